import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { isStrongroomError, StrongroomError } from '../../../errors.js';
import type { HsmProvider } from '../provider.js';
import {
  adviseMemberKeyCopy,
  describeMember,
  isMemberUnreachable,
  isPinError,
  type MemberSettings,
} from './member.js';
import {
  openMember,
  requireSameKeys,
  type KeyFingerprint,
  type SharedMemberOptions,
} from './member-check.js';

/** One member of an open failover group. `provider` is undefined until the member first opens. */
export interface GroupMember {
  index: number;
  name: string;
  settings: MemberSettings;
  /** Whether another member uses the same module (library path), so they share its state. */
  sharesModule: boolean;
  provider: HsmProvider | undefined;
  /** Set for a member that must never serve again: it rejected the PIN or its keys differ. */
  excluded: boolean;
}

/** The group after start-up: its members, the fingerprint they share and the member to use first. */
export interface OpenedGroup {
  members: GroupMember[];
  reference: KeyFingerprint;
  active: GroupMember & { provider: HsmProvider };
}

/**
 * Opens every member in order. An unreachable member is logged and skipped. A rejected PIN stops
 * at once, because the same PIN would go to the next member. A member that opens with other keys
 * than the first one that opened, or that fails for another reason, fails the start with an error
 * that names it. When no member opens, the primary's error is raised, as without failover.
 */
export async function openGroup(
  options: SharedMemberOptions & { members: MemberSettings[] },
  log: Logger,
): Promise<OpenedGroup> {
  const libraries = options.members.map((settings) => resolve(settings.library));
  const members: GroupMember[] = options.members.map((settings, index) => ({
    index,
    name: describeMember(settings, index),
    settings,
    sharesModule: libraries.filter((library) => library === libraries[index]).length > 1,
    provider: undefined,
    excluded: false,
  }));
  let reference: KeyFingerprint | undefined;
  let firstError: unknown;

  try {
    for (const member of members) {
      let opened: Awaited<ReturnType<typeof openMember>>;
      try {
        opened = await openMember(member.settings, options, member.sharesModule);
      } catch (error) {
        if (isPinError(error) || !isMemberUnreachable(error)) {
          throw nameMember(error, member.name);
        }
        firstError ??= error;
        log.warn(
          {
            member: member.name,
            code: isStrongroomError(error) ? error.code : 'unknown',
            err: error,
          },
          'hsm failover member unreachable at start-up; the next member is tried',
        );
        continue;
      }

      member.provider = opened.provider;
      if (reference === undefined) {
        reference = opened.fingerprint;
      } else {
        requireSameKeys(reference, opened.fingerprint, member.name);
      }
      log.info({ member: member.name, kcv: opened.fingerprint.kcv }, 'hsm failover member opened');
    }
  } catch (error) {
    await closeAll(members);
    throw error;
  }

  const active = members.find(
    (member): member is GroupMember & { provider: HsmProvider } => member.provider !== undefined,
  );
  if (active === undefined || reference === undefined) {
    throw firstError;
  }
  if (active.index !== 0) {
    log.warn(
      { member: active.name },
      'hsm failover: the primary member is unreachable, a standby serves',
    );
  }
  return { members, reference, active };
}

/**
 * Closes the members one after the other: members on one module share it, and the last one to
 * close finalises it, which must not happen while another still closes its sessions.
 */
async function closeAll(members: GroupMember[]): Promise<void> {
  for (const member of members) {
    await member.provider?.close();
    member.provider = undefined;
  }
}

/**
 * Returns the error with the member's name in front of its message, keeping its code. A missing
 * master key gets the advice to copy the key (see adviseMemberKeyCopy).
 */
function nameMember(thrown: unknown, name: string): unknown {
  const error = adviseMemberKeyCopy(thrown);
  if (!isStrongroomError(error) || error.code === 'SR_HSM_FAILOVER_KEY_MISMATCH') {
    return error;
  }
  return new StrongroomError(error.code, `HSM failover member ${name}: ${error.message}`, {
    cause: error,
    details: { ...error.details, member: name },
  });
}
