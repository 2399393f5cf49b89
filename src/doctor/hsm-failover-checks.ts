import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { HsmConfig } from '../config/load.js';
import { isStrongroomError } from '../errors.js';
import {
  adviseMemberKeyCopy,
  describeMember,
  isMemberUnreachable,
  isPinError,
  type MemberSettings,
} from '../keys/hsm/failover/member.js';
import {
  openMember,
  requireSameKeys,
  type KeyFingerprint,
} from '../keys/hsm/failover/member-check.js';
import type { HsmProvider } from '../keys/hsm/provider.js';
import { failedFrom, type CheckResult } from './types.js';

/** Outcome of checking a failover group: one result per member, then one for the group. */
export interface FailoverCheck {
  results: CheckResult[];
  /** The member `strongroom serve` would use first and the key check value it holds, if any. */
  active: { settings: MemberSettings; kcv: string } | undefined;
}

/**
 * Opens every member of the failover group in order with the service's own member check
 * (openMember, requireSameKeys), so that the rules are those of `strongroom serve` at start-up.
 * An unreachable member is a warning while another member serves. A rejected PIN, a member
 * without the keys or with other keys fails. Unlike the service, every member is reported, also
 * after the first failure. Every provider is closed again before this returns.
 */
export async function checkFailoverGroup(
  hsm: HsmConfig,
  pin: string,
  logger: Logger,
): Promise<FailoverCheck> {
  const members = [hsm.providerFile, ...(hsm.failover?.standbys ?? [])];
  const libraries = members.map((settings) => resolve(settings.library));
  const shared = {
    keyLabel: hsm.keyLabel,
    auditKeyLabel: hsm.auditKeyLabel,
    pin,
    poolSize: 1,
    keyWrap: hsm.keyWrap,
    logger,
  };
  const providers: HsmProvider[] = [];
  const results: CheckResult[] = [];
  let reference: { fingerprint: KeyFingerprint; index: number } | undefined;
  let firstUnreachable: unknown;
  let pinRejected = false;

  try {
    for (const [index, settings] of members.entries()) {
      const name = `HSM member ${describeMember(settings, index)}`;
      if (pinRejected) {
        results.push({
          name,
          status: 'skipped',
          message: 'skipped, because the PIN was rejected.',
        });
        continue;
      }
      const sharesModule = libraries.filter((library) => library === libraries[index]).length > 1;
      let fingerprint: KeyFingerprint;
      try {
        const opened = await openMember(settings, shared, sharesModule);
        providers.push(opened.provider);
        fingerprint = opened.fingerprint;
      } catch (error) {
        // The service stops at a rejected PIN, because the same PIN would go to every member.
        pinRejected = isPinError(error);
        if (!pinRejected && isMemberUnreachable(error)) {
          firstUnreachable ??= error;
          results.push({
            ...failedFrom(name, error),
            status: 'warning',
            fix: "'strongroom serve' skips an unreachable member and uses the next one; bring the member back so that the group has a standby again.",
          });
        } else {
          results.push(failedFrom(name, adviseMemberKeyCopy(error)));
        }
        continue;
      }

      if (reference === undefined) {
        reference = { fingerprint, index };
        results.push({
          name,
          status: 'ok',
          message: `master key '${hsm.keyLabel}' is usable with ${fingerprint.mechanism}, check value ${fingerprint.kcv}.`,
        });
        continue;
      }
      try {
        requireSameKeys(reference.fingerprint, fingerprint, describeMember(settings, index));
        results.push({
          name,
          status: 'ok',
          message: `holds the same master key (check value ${fingerprint.kcv}) and audit key as the member that serves.`,
        });
      } catch (error) {
        results.push(failedFrom(name, error));
      }
    }
  } finally {
    // One at a time, so that the last provider of a module calls C_Finalize only after the
    // others' workers have closed their sessions, because PKCS#11 leaves C_Finalize undefined
    // while other threads make calls.
    for (const provider of providers) {
      await provider.close();
    }
  }

  return summarise(members, results, reference, firstUnreachable);
}

/** Adds the group's result: which member serves, or why none can. */
function summarise(
  members: MemberSettings[],
  results: CheckResult[],
  reference: { fingerprint: KeyFingerprint; index: number } | undefined,
  firstUnreachable: unknown,
): FailoverCheck {
  const name = 'HSM failover group';
  const failed = results.some((result) => result.status === 'failed');
  const serving = reference === undefined ? undefined : members[reference.index];

  if (reference === undefined || serving === undefined) {
    const cause = failed ? undefined : firstUnreachable;
    results.push(
      cause === undefined
        ? {
            name,
            status: 'failed',
            message: 'no member of the group can serve; see the members above.',
          }
        : {
            ...failedFrom(name, cause),
            message: `no member of the group is reachable: ${errorMessage(cause)}`,
          },
    );
    return { results, active: undefined };
  }

  const active = { settings: serving, kcv: reference.fingerprint.kcv };
  const servingName = describeMember(serving, reference.index);
  if (failed) {
    results.push({
      name,
      status: 'failed',
      message: `'strongroom serve' does not start, because a member above failed. The member that would serve is ${servingName}.`,
    });
  } else if (reference.index !== 0) {
    results.push({
      name,
      status: 'warning',
      message: `the primary member is unreachable, so ${servingName} serves.`,
      fix: 'Bring the primary back; the service returns to it every strongroom.hsm.failover.retryPrimarySeconds.',
    });
  } else {
    const reachable = results.filter((result) => result.status === 'ok').length;
    results.push({
      name,
      status: 'ok',
      message: `${reachable} of ${members.length} member(s) opened with the master key of check value ${reference.fingerprint.kcv}; the primary serves.`,
    });
  }
  return { results, active };
}

function errorMessage(error: unknown): string {
  if (isStrongroomError(error)) {
    return `${error.code}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
