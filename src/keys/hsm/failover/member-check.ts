import { randomBytes } from 'node:crypto';
import { isStrongroomError, StrongroomError } from '../../../errors.js';
import { HsmProvider } from '../provider.js';
import type { HsmProviderOptions } from '../provider-options.js';
import type { MemberSettings } from './member.js';

/** Data MAC'd with the audit key on each member, so that the MACs show whether the keys are equal. */
const AUDIT_PROBE = Buffer.from('strongroom failover audit key probe', 'ascii');
/** Associated data of the DEK that a probe wraps and unwraps again. It is never stored. */
const PROBE_AAD = Buffer.from('strongroom failover probe', 'ascii');

/**
 * The values that must be equal on every member: the master key's check value, the mechanism that
 * wraps new DEKs, and the MAC of a fixed text under the audit checkpoint key. Where no member has
 * the audit key, `audit` is the error code, so that such a group still compares equal.
 */
export interface KeyFingerprint {
  kcv: string;
  mechanism: string;
  audit: string;
}

/** Settings shared by every member: the key labels, the PIN, the pool size and the logger. */
export type SharedMemberOptions = Omit<HsmProviderOptions, 'library' | 'slot'> & {
  auditKeyLabel: string | undefined;
};

/**
 * Opens the provider of one member and reads its fingerprint. On failure the provider is closed
 * and the error is raised as it came. A member whose module another member also uses never
 * finalises it when reconnecting, because C_Finalize would pull the module from under the other
 * member's calls.
 */
export async function openMember(
  settings: MemberSettings,
  shared: SharedMemberOptions,
  sharesModule: boolean,
): Promise<{ provider: HsmProvider; fingerprint: KeyFingerprint }> {
  const { auditKeyLabel, ...options } = shared;
  const provider = new HsmProvider({
    ...options,
    library: settings.library,
    slot: settings.slot,
    finalizeOnReconnect: !sharesModule,
  });
  try {
    await provider.open();
    return { provider, fingerprint: await readFingerprint(provider, auditKeyLabel) };
  } catch (error) {
    await provider.close();
    throw error;
  }
}

/**
 * Checks that a member works now: a random DEK is wrapped and unwrapped again, and the audit key
 * MAC is computed afresh. Throws the member's error, or SR_HSM_FAILOVER_KEY_MISMATCH when the
 * round trip or the fingerprint differs.
 */
export async function probeMember(
  provider: HsmProvider,
  auditKeyLabel: string | undefined,
  expected: KeyFingerprint,
  name: string,
): Promise<void> {
  const dek = randomBytes(32);
  try {
    const wrapped = await provider.wrap(dek, PROBE_AAD);
    const unwrapped = await provider.unwrap(wrapped, PROBE_AAD);
    const equal = unwrapped.equals(dek);
    unwrapped.fill(0);
    if (!equal) {
      throw new StrongroomError(
        'SR_HSM_FAILOVER_KEY_MISMATCH',
        `the HSM failover member ${name} unwrapped a probe DEK to other bytes than it wrapped. Check the token and its PKCS#11 module before using the member.`,
      );
    }
  } finally {
    dek.fill(0);
  }
  requireSameKeys(expected, await readFingerprint(provider, auditKeyLabel), name);
}

/**
 * Throws SR_HSM_FAILOVER_KEY_MISMATCH, naming the member and the values that differ, unless the
 * member holds the same keys as the reference and chose the same mechanism.
 */
export function requireSameKeys(
  reference: KeyFingerprint,
  member: KeyFingerprint,
  name: string,
): void {
  const differences: string[] = [];
  if (member.kcv !== reference.kcv) {
    differences.push(
      `its master key has key check value ${member.kcv}, the group's has ${reference.kcv}`,
    );
  }
  if (member.mechanism !== reference.mechanism) {
    differences.push(
      `it wraps new DEKs with ${member.mechanism}, the group with ${reference.mechanism}`,
    );
  }
  if (member.audit !== reference.audit) {
    differences.push('its audit checkpoint key computes other MACs than the group');
  }
  if (differences.length === 0) {
    return;
  }
  throw new StrongroomError(
    'SR_HSM_FAILOVER_KEY_MISMATCH',
    `the HSM failover member ${name} is not used: ${differences.join('; ')}. ` +
      'Every member must hold copies of the same master key and audit key; copy the keys to its token (or point its provider file at the right slot), or remove it from strongroom.hsm.failover.configPaths.',
    { details: { member: name, kcv: member.kcv, expectedKcv: reference.kcv } },
  );
}

async function readFingerprint(
  provider: HsmProvider,
  auditKeyLabel: string | undefined,
): Promise<KeyFingerprint> {
  const status = provider.status();
  return {
    kcv: provider.ref().kcv,
    mechanism: String(status.detail['mechanism']),
    audit: await readAuditFingerprint(provider, auditKeyLabel),
  };
}

async function readAuditFingerprint(
  provider: HsmProvider,
  auditKeyLabel: string | undefined,
): Promise<string> {
  if (auditKeyLabel === undefined) {
    return 'none';
  }
  try {
    const { algorithm, mac } = await provider.signWithKey(auditKeyLabel, AUDIT_PROBE);
    return `${algorithm}:${mac.toString('hex')}`;
  } catch (error) {
    if (isStrongroomError(error, 'SR_AUDIT_KEY_NOT_FOUND')) {
      return 'SR_AUDIT_KEY_NOT_FOUND';
    }
    throw error;
  }
}
