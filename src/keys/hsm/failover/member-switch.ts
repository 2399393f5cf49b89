import type { Logger } from 'pino';
import { isStrongroomError, StrongroomError } from '../../../errors.js';
import type { HsmProvider } from '../provider.js';
import type { GroupMember, OpenedGroup } from './group-open.js';
import { isKeyReplaced, isPinError } from './member.js';
import {
  openMember,
  probeMember,
  requireSameKeys,
  type KeyFingerprint,
  type SharedMemberOptions,
} from './member-check.js';

/** The member that served when an operation began, and the switches before it. */
export interface MemberTurn {
  member: GroupMember & { provider: HsmProvider };
  switches: number;
}

/** Errors after which a member never serves again: its PIN was rejected or its keys differ. */
const EXCLUDING_CODES = new Set(['SR_HSM_FAILOVER_KEY_MISMATCH', 'SR_KEY_PROVIDER_MISMATCH']);

/**
 * The active member of an open failover group and the switches between members: away from a
 * member that failed, and back to the primary every `retryPrimarySeconds` while a standby serves.
 * Switches run one at a time, so requests that fail together cause one switch.
 */
export class MemberSwitch {
  failovers = 0;
  failbacks = 0;
  private readonly members: GroupMember[];
  private readonly reference: KeyFingerprint;
  private current: GroupMember & { provider: HsmProvider };
  private switching: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    group: OpenedGroup,
    private readonly options: SharedMemberOptions & { retryPrimarySeconds: number },
    private readonly log: Logger,
  ) {
    this.members = group.members;
    this.reference = group.reference;
    this.current = group.active;
    if (this.current.index !== 0) {
      this.scheduleRetry();
    }
  }

  /** The member that serves now. */
  get active(): GroupMember & { provider: HsmProvider } {
    return this.current;
  }

  /** The member that serves now, with the number of switches so far, to pass to switchFrom. */
  get turn(): MemberTurn {
    return { member: this.current, switches: this.switches };
  }

  /** Every member, in configured order, for closing them. */
  get all(): readonly GroupMember[] {
    return this.members;
  }

  /** The key check value, mechanism and audit key MAC that every member must match. */
  get fingerprint(): KeyFingerprint {
    return this.reference;
  }

  /**
   * Switches away from the member of `failed` to the next member that passes a probe, unless a
   * switch happened since that turn began. A request that failed on the primary before a failover
   * and a failback must not switch away from the primary that works again. Throws
   * SR_HSM_UNAVAILABLE, and keeps the member active, when no other member can serve.
   */
  switchFrom(failed: MemberTurn, error: unknown): Promise<void> {
    const step = this.switching.then(() =>
      this.current === failed.member && this.switches === failed.switches
        ? this.switchOnce(failed.member, error)
        : undefined,
    );
    this.switching = step.catch(() => undefined);
    return step;
  }

  /** Stops the retry timer and waits for a switch that is running. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.switching;
  }

  /** Failovers and failbacks so far: each one starts a new turn. */
  private get switches(): number {
    return this.failovers + this.failbacks;
  }

  private async switchOnce(failed: GroupMember, error: unknown): Promise<void> {
    const reason = isStrongroomError(error) ? error.message : String(error);
    if (isKeyReplaced(error)) {
      this.exclude(failed, error);
    }

    const failures: string[] = [`${failed.name}: ${reason}`];
    for (const candidate of this.candidatesAfter(failed)) {
      let ready: GroupMember & { provider: HsmProvider };
      try {
        ready = await this.prepare(candidate);
      } catch (candidateError) {
        failures.push(`${candidate.name}: ${this.noteFailure(candidate, candidateError)}`);
        continue;
      }
      this.current = ready;
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

  /** Members after `failed` in the configured order, wrapping round, without excluded ones. */
  private candidatesAfter(failed: GroupMember): GroupMember[] {
    const count = this.members.length;
    return Array.from(
      { length: count - 1 },
      (_, step) => this.members[(failed.index + 1 + step) % count],
    ).filter((member): member is GroupMember => member !== undefined && !member.excluded);
  }

  /** Opens a member that never opened, or probes one that did. Throws when it cannot serve. */
  private async prepare(member: GroupMember): Promise<GroupMember & { provider: HsmProvider }> {
    if (member.provider !== undefined) {
      await probeMember(member.provider, this.options.auditKeyLabel, this.reference, member.name);
      return member as GroupMember & { provider: HsmProvider };
    }

    const opened = await openMember(member.settings, this.options, member.sharesModule);
    try {
      requireSameKeys(this.reference, opened.fingerprint, member.name);
    } catch (error) {
      await opened.provider.close();
      throw error;
    }
    member.provider = opened.provider;
    return member as GroupMember & { provider: HsmProvider };
  }

  /** Logs why a member cannot serve now, excludes it for good where needed, and returns the reason. */
  private noteFailure(member: GroupMember, error: unknown): string {
    const reason = isStrongroomError(error) ? error.message : String(error);
    if (isPinError(error) || (isStrongroomError(error) && EXCLUDING_CODES.has(error.code))) {
      this.exclude(member, error);
    } else {
      const code = isStrongroomError(error) ? error.code : 'unknown';
      this.log.warn({ member: member.name, code, reason }, 'hsm failover member cannot serve now');
    }
    return reason;
  }

  /** Marks a member that must never serve again: trying a rejected PIN again could lock it. */
  private exclude(member: GroupMember, error: unknown): void {
    member.excluded = true;
    const code = isStrongroomError(error) ? error.code : 'unknown';
    const reason = isStrongroomError(error) ? error.message : String(error);
    this.log.error(
      { member: member.name, code, reason },
      'hsm failover member excluded until Strongroom restarts',
    );
  }

  private scheduleRetry(): void {
    const primary = this.members[0];
    if (
      this.stopped ||
      this.retryTimer !== undefined ||
      primary === undefined ||
      primary.excluded
    ) {
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
      if (this.stopped || this.current === primary) {
        return;
      }
      let ready: GroupMember & { provider: HsmProvider };
      try {
        ready = await this.prepare(primary);
      } catch (error) {
        this.noteFailure(primary, error);
        this.scheduleRetry();
        return;
      }
      const from = this.current.name;
      this.current = ready;
      this.failbacks++;
      this.log.info({ from, to: primary.name }, 'hsm failover: the primary member serves again');
    });
    this.switching = step.catch(() => undefined);
    await this.switching;
  }
}
