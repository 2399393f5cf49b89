import type { Logger } from 'pino';
import { isStrongroomError, StrongroomError } from '../../../errors.js';
import type { MacAlgorithm } from '../../mac-key.js';
import type {
  BatchResult,
  MasterKeyProvider,
  MasterKeyRef,
  ProviderStatus,
  UnwrapRequest,
  WrapRequest,
  WrappedKey,
} from '../../types.js';
import type { HsmProvider } from '../provider.js';
import { failEveryItem, requireReachable } from './batch-retry.js';
import { openGroup, type GroupMember } from './group-open.js';
import { isKeyReplaced, isMemberUnreachable, type MemberSettings } from './member.js';
import {
  openMember,
  probeMember,
  requireSameKeys,
  type KeyFingerprint,
  type SharedMemberOptions,
} from './member-check.js';

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
  private members: GroupMember[] = [];
  private active: GroupMember | undefined;
  private reference: KeyFingerprint | undefined;
  private switching: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private failovers = 0;
  private failbacks = 0;
  private closed = false;

  constructor(private readonly options: FailoverProviderOptions) {
    this.log = options.logger.child({ component: 'hsm-failover' });
  }

  async open(): Promise<void> {
    if (this.active !== undefined) {
      return;
    }
    const group = await openGroup(this.options, this.log);
    this.members = group.members;
    this.reference = group.reference;
    this.active = group.active;
    if (group.active.index !== 0) {
      this.scheduleRetry();
    }
  }

  ref(): MasterKeyRef {
    if (this.reference === undefined || this.closed) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_UNAVAILABLE',
        'the HSM master key provider is not open. Call open() first.',
      );
    }
    return { provider: 'hsm', keyId: this.options.keyLabel, kcv: this.reference.kcv };
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
  wrapMany(requests: readonly WrapRequest[]): Promise<BatchResult<WrappedKey>[]> {
    return this.runBatch(requests.length, (provider) => provider.wrapMany(requests));
  }

  /** Unwraps the DEKs on the active member, and runs the whole batch again on the next one if it fails. */
  unwrapMany(requests: readonly UnwrapRequest[]): Promise<BatchResult<Buffer>[]> {
    return this.runBatch(requests.length, (provider) => provider.unwrapMany(requests));
  }

  status(): ProviderStatus {
    const active = this.active;
    const inner = active?.provider?.status();
    const ready = inner?.ready === true && !this.closed;
    return {
      kind: 'hsm',
      ready,
      keyId: this.options.keyLabel,
      detail: {
        ...(inner?.detail ?? { keyLabel: this.options.keyLabel }),
        failoverMembers: this.options.members.length,
        activeMember: active?.index ?? -1,
        activeMemberName: active?.name ?? 'none',
        failovers: this.failovers,
        failbacks: this.failbacks,
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.switching.catch(() => undefined);
    await Promise.all(this.members.map((member) => member.provider?.close()));
  }

  /**
   * Runs an operation on the active member. When the member is unreachable, switches to the next
   * member that works and runs the operation there, at most once per member.
   */
  private async run<T>(operation: (provider: HsmProvider) => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < this.members.length; attempt++) {
      const member = this.requireActive();
      try {
        return await operation(member.provider);
      } catch (error) {
        if (this.closed || !(isMemberUnreachable(error) || isKeyReplaced(error))) {
          throw error;
        }
        await this.switchFrom(member, error);
      }
    }
    return operation(this.requireActive().provider);
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

  /** Switches away from `failed` unless another request has done so already. */
  private switchFrom(failed: GroupMember, error: unknown): Promise<void> {
    const step = this.switching.then(() =>
      this.active === failed ? this.switchOnce(failed, error) : undefined,
    );
    this.switching = step.catch(() => undefined);
    return step;
  }

  private async switchOnce(failed: GroupMember, error: unknown): Promise<void> {
    const reason = isStrongroomError(error) ? error.message : String(error);
    if (isKeyReplaced(error)) {
      failed.refused = true;
      this.log.error(
        { member: failed.name, reason },
        'hsm failover member refused: its key changed',
      );
    }

    const failures: string[] = [`${failed.name}: ${reason}`];
    for (const candidate of this.candidatesAfter(failed)) {
      try {
        await this.prepare(candidate);
      } catch (candidateError) {
        failures.push(`${candidate.name}: ${this.noteFailure(candidate, candidateError)}`);
        continue;
      }
      this.active = candidate;
      this.failovers++;
      this.log.warn(
        { from: failed.name, to: candidate.name, reason },
        'hsm failover: the active member failed, another member serves now',
      );
      this.scheduleRetry();
      return;
    }

    throw new StrongroomError(
      'SR_HSM_UNAVAILABLE',
      `no member of the HSM failover group can be used: ${failures.join('; ')}. Check the HSMs and the network paths to them; Strongroom tries the active member again on the next request.`,
    );
  }

  /** Members after `failed` in the configured order, wrapping round, without refused ones. */
  private candidatesAfter(failed: GroupMember): GroupMember[] {
    const count = this.members.length;
    return Array.from(
      { length: count - 1 },
      (_, step) => this.members[(failed.index + 1 + step) % count],
    ).filter((member): member is GroupMember => member !== undefined && !member.refused);
  }

  /** Opens a member that never opened, or probes one that did. Throws when it cannot serve. */
  private async prepare(member: GroupMember): Promise<void> {
    const reference = this.requireReference();
    if (member.provider === undefined) {
      const opened = await openMember(member.settings, this.options);
      try {
        requireSameKeys(reference, opened.fingerprint, member.name);
      } catch (error) {
        await opened.provider.close();
        throw error;
      }
      member.provider = opened.provider;
      return;
    }
    await probeMember(member.provider, this.options.auditKeyLabel, reference, member.name);
  }

  /** Logs why a member cannot serve, marks it refused when it must never serve, and returns the reason. */
  private noteFailure(member: GroupMember, error: unknown): string {
    const reason = isStrongroomError(error) ? error.message : String(error);
    const code = isStrongroomError(error) ? error.code : 'unknown';
    if (!isMemberUnreachable(error)) {
      // A rejected PIN, another key or a broken key: trying the member again cannot help and,
      // for a PIN, could lock it.
      member.refused = true;
      this.log.error({ member: member.name, code, reason }, 'hsm failover member refused');
    } else {
      this.log.warn({ member: member.name, code, reason }, 'hsm failover member unreachable');
    }
    return reason;
  }

  private scheduleRetry(): void {
    const primary = this.members[0];
    if (this.closed || this.retryTimer !== undefined || primary === undefined || primary.refused) {
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retryPrimary(primary);
    }, this.options.retryPrimarySeconds * 1000);
    this.retryTimer.unref();
  }

  /** Probes the primary and makes it active again when it works; otherwise schedules the next try. */
  private async retryPrimary(primary: GroupMember): Promise<void> {
    const step = this.switching.then(async () => {
      if (this.closed || this.active === primary) {
        return;
      }
      try {
        await this.prepare(primary);
      } catch (error) {
        this.noteFailure(primary, error);
        this.scheduleRetry();
        return;
      }
      const from = this.active?.name ?? 'none';
      this.active = primary;
      this.failbacks++;
      this.log.info({ from, to: primary.name }, 'hsm failover: the primary member serves again');
    });
    this.switching = step.catch(() => undefined);
    await this.switching;
  }

  private requireActive(): GroupMember & { provider: HsmProvider } {
    const active = this.active;
    if (active?.provider === undefined || this.closed) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_UNAVAILABLE',
        'the HSM master key provider is not open. Call open() first.',
      );
    }
    return active as GroupMember & { provider: HsmProvider };
  }

  private requireReference(): KeyFingerprint {
    if (this.reference === undefined) {
      throw new StrongroomError('SR_INTERNAL', 'the HSM failover group has no reference key yet.');
    }
    return this.reference;
  }
}
