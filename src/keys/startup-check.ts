import { StrongroomError } from '../errors.js';
import type { DekCount } from '../store/repositories.js';
import { sameKey } from './key-ref.js';
import { describeKey } from './keyring.js';
import type { MasterKeyRef } from './types.js';

/**
 * Checks the stored DEKs against the open master keys (`held`, the active one among them) before
 * the service starts. Every stored DEK must be wrapped by a key that an open provider holds. When DEKs exist, some must be under the
 * active key, because a provider switched without the migration would wrap new DEKs under one key
 * while every old one needs another.
 * Returns warnings to log, such as a migration that is half done.
 */
export function checkStoredKeys(
  counts: DekCount[],
  active: MasterKeyRef,
  held: readonly MasterKeyRef[],
): string[] {
  const stored = counts.filter((entry) => entry.count > 0);
  const orphans = stored.filter((entry) => !held.some((ref) => sameKey(ref, entry.ref)));
  const underActive = stored.find((entry) => sameKey(entry.ref, active));

  const first = orphans[0];
  if (first !== undefined) {
    throw mismatch(first, active, orphans.length === stored.length);
  }

  if (stored.length > 0 && underActive === undefined) {
    const other = stored[0] as DekCount;
    throw mismatch(other, active, true);
  }

  return stored
    .filter((entry) => !sameKey(entry.ref, active))
    .map((entry) =>
      entry.ref.provider === active.provider
        ? `${entry.count} DEKs are wrapped by ${describeKey(entry.ref)}, not by the active key, so a renewal is under way. ` +
          `If that key is the new one, run 'strongroom dek renew' to it again and make it the active key. ` +
          `If it is the old one, move its DEKs to the active key with ${renewFromOldKey(entry.ref, active)}.`
        : `${entry.count} DEKs are still wrapped by ${describeKey(entry.ref)}; run 'strongroom dek migrate --to ${active.provider}' to finish moving them to the active key.`,
    );
}

/** Returns the command that moves the DEKs of an old key to the active key of the same provider. */
function renewFromOldKey(old: MasterKeyRef, active: MasterKeyRef): string {
  return old.provider === 'hsm'
    ? `'strongroom dek renew --from-hsm-key-label ${old.keyId} --hsm-key-label ${active.keyId}'`
    : `'strongroom dek renew --from-key-file OLD.key --key-file ACTIVE.key', naming the old key file and the one in strongroom.keyFile`;
}

function mismatch(stored: DekCount, active: MasterKeyRef, allElsewhere: boolean): StrongroomError {
  const where =
    stored.count === 1
      ? `1 stored DEK is wrapped by ${describeKey(stored.ref)}`
      : `${stored.count} stored DEKs are wrapped by ${describeKey(stored.ref)}`;
  const configured = `kron.crypto.keyProvider = ${active.provider} uses ${describeKey(active)}`;
  const fix =
    stored.ref.provider === active.provider
      ? `Restore the ${stored.ref.provider === 'hsm' ? 'HSM key with that label and check value' : 'key file with that id'} and restart, or run 'strongroom dek renew' from the old key.`
      : allElsewhere
        ? `Set kron.crypto.keyProvider = ${stored.ref.provider} in security.properties, or configure both providers and run 'strongroom dek migrate --to ${active.provider}' first.`
        : `Configure the ${stored.ref.provider} provider beside the ${active.provider} provider so those DEKs can be opened, then run 'strongroom dek migrate --to ${active.provider}'.`;
  return new StrongroomError('SR_KEY_PROVIDER_MISMATCH', `${where}, but ${configured}. ${fix}`, {
    details: {
      storedProvider: stored.ref.provider,
      storedKeyId: stored.ref.keyId,
      count: stored.count,
    },
  });
}
