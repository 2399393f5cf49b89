import type { Logger } from 'pino';
import { StrongroomError } from '../../../errors.js';
import type { MacAlgorithm } from '../../mac-key.js';
import type {
  BatchResult,
  MasterKeyProvider,
  MasterKeyRef,
  ProviderStatus,
  UnwrapRequest,
  WrapManyOptions,
  WrapRequest,
  WrappedKey,
} from '../../types.js';
import type { HsmProvider } from '../provider.js';
import { failEveryItem, requireReachable } from './batch-retry.js';
import { openGroup } from './group-open.js';
import { isKeyReplaced, isMemberUnreachable, type MemberSettings } from './member.js';
import type { SharedMemberOptions } from './member-check.js';
import { MemberSwitch } from './member-switch.js';

/** Settings of an HSM failover group. The first member is the primary. */
export interface FailoverProviderOptions extends SharedMemberOptions {
  members: MemberSettings[];
  /** Seconds between attempts to return to the primary while another member serves. */
  retryPrimarySeconds: number;
}

/**
 * A master key provider over several HSM slots or modules that hold the same keys, tried in the
 * configured order. Operations go to the active member. When it fails with an error that means it
 * is unreachable (see isMemberUnreachable), after its own reconnection attempts, the next member
 * that passes a probe takes over and the operation runs once more there. While a standby serves,
 * the primary is probed every retryPrimarySeconds and becomes active again when it works.
 */
export class FailoverHsmProvider implements MasterKeyProvider {
  readonly kind = 'hsm' as const;
  private readonly log: Logger;
  private members: MemberSwitch | undefined;
  private closed = false;

  constructor(private readonly options: FailoverProviderOptions) {
    this.log = options.logger.child({ component: 'hsm-failover' });
  }

  async open(): Promise<void> {
    if (this.members !== undefined) {
      return;
    }
    const group = await openGroup(this.options, this.log);
    this.members = new MemberSwitch(group, this.options, this.log);
  }

  ref(): MasterKeyRef {
    const { kcv } = this.requireMembers().fingerprint;
    return { provider: 'hsm', keyId: this.options.keyLabel, kcv };
  }

  wrap(dek: Buffer, aad: Buffer): Promise<WrappedKey> {
    return this.run((provider) => provider.wrap(dek, aad));
  }

  unwrap(key: WrappedKey, aad: Buffer): Promise<Buffer> {
    return this.run((provider) => provider.unwrap(key, aad));
  }

  /** Computes a MAC with the key labelled `keyLabel` on the active member (the audit key). */
  signWithKey(keyLabel: string, data: Buffer): Promise<{ algorithm: MacAlgorithm; mac: Buffer }> {
    return this.run((provider) => provider.signWithKey(keyLabel, data));
  }

  /** Checks a MAC with the key labelled `keyLabel` on the active member. */
  verifyWithKey(
    keyLabel: string,
    data: Buffer,
    mac: Buffer,
  ): Promise<{ algorithm: MacAlgorithm; valid: boolean }> {
    return this.run((provider) => provider.verifyWithKey(keyLabel, data, mac));
  }

  /** Wraps the DEKs on the active member, and runs the whole batch again on the next one if it fails. */
  wrapMany(
    requests: readonly WrapRequest[],
    options: WrapManyOptions = {},
  ): Promise<BatchResult<WrappedKey>[]> {
    return this.runBatch(requests.length, (provider) => provider.wrapMany(requests, options));
  }

  /** Unwraps the DEKs on the active member, and runs the whole batch again on the next one if it fails. */
  unwrapMany(requests: readonly UnwrapRequest[]): Promise<BatchResult<Buffer>[]> {
    return this.runBatch(requests.length, (provider) => provider.unwrapMany(requests));
  }

  /**
   * Reports the group ready while it is open, even when the active member has lost its
   * connection: the next operation then switches to a member that works or fails with
   * SR_HSM_UNAVAILABLE. The detail is the active member's, with the group's counters.
   */
  status(): ProviderStatus {
    const members = this.members;
    const active = members?.active;
    const inner = active?.provider.status();
    return {
      kind: 'hsm',
      ready: members !== undefined && !this.closed,
      keyId: this.options.keyLabel,
      detail: {
        ...(inner?.detail ?? { keyLabel: this.options.keyLabel }),
        failoverMembers: this.options.members.length,
        activeMember: active?.index ?? -1,
        activeMemberName: active?.name ?? 'none',
        failovers: members?.failovers ?? 0,
        failbacks: members?.failbacks ?? 0,
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    const members = this.members;
    if (members === undefined) {
      return;
    }
    await members.stop();
    // One after the other: the last member on a shared module finalises it on close.
    for (const member of members.all) {
      await member.provider?.close();
    }
  }

  /**
   * Runs an operation on the active member. When the member is unreachable, switches to the next
   * member that works and runs the operation there. Makes at most one attempt more than there are
   * members.
   */
  private async run<T>(operation: (provider: HsmProvider) => Promise<T>): Promise<T> {
    const members = this.requireMembers();
    for (let attempt = 0; attempt < members.all.length; attempt++) {
      const turn = members.turn;
      try {
        return await operation(turn.member.provider);
      } catch (error) {
        if (this.closed || !(isMemberUnreachable(error) || isKeyReplaced(error))) {
          throw error;
        }
        await members.switchFrom(turn, error);
      }
    }
    return operation(this.requireMembers().active.provider);
  }

  private async runBatch<T>(
    count: number,
    call: (provider: HsmProvider) => Promise<BatchResult<T>[]>,
  ): Promise<BatchResult<T>[]> {
    try {
      return await this.run(async (provider) => requireReachable(await call(provider)));
    } catch (error) {
      return failEveryItem(count, error);
    }
  }

  private requireMembers(): MemberSwitch {
    if (this.members === undefined || this.closed) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_UNAVAILABLE',
        'the HSM master key provider is not open. Call open() first.',
      );
    }
    return this.members;
  }
}
