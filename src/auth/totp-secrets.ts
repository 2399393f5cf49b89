import { openGcm, sealGcm } from '../crypto/aes-gcm.js';
import { totpAssociatedData } from '../crypto/associated-data.js';
import { StrongroomError } from '../errors.js';
import type { Keyring } from '../keys/keyring.js';
import type { DekRecord, KeyRepository, TotpRecord } from '../store/repositories.js';

/** The parts of the keyring and key store that seal and open TOTP secrets. */
export interface TotpSecretKeys {
  keyring: Pick<Keyring, 'newDek' | 'openDek'>;
  keys: Pick<KeyRepository, 'findDek'>;
}

/**
 * Seals a base32 TOTP secret under a new DEK of its own, with AES-256-GCM and associated data that
 * binds it to the user and the DEK, the same envelope encryption as account secrets.
 */
export async function sealTotpSecret(
  keys: TotpSecretKeys,
  userId: string,
  secretBase32: string,
): Promise<{ dek: DekRecord; ciphertext: Buffer }> {
  const { record, dek } = await keys.keyring.newDek();
  const plaintext = Buffer.from(secretBase32, 'utf8');
  try {
    const ciphertext = sealGcm(dek, plaintext, totpAssociatedData(userId, record.id));
    return { dek: record, ciphertext };
  } finally {
    dek.fill(0);
    plaintext.fill(0);
  }
}

/** Opens the sealed TOTP secret of a user. Throws SR_DECRYPT_FAILED when it cannot be opened. */
export async function openTotpSecret(
  keys: TotpSecretKeys,
  userId: string,
  totp: TotpRecord,
): Promise<string> {
  const record = await keys.keys.findDek(totp.dekId);
  if (record === undefined) {
    throw new StrongroomError(
      'SR_DECRYPT_FAILED',
      `DEK ${totp.dekId} of the TOTP secret of user ${userId} is missing.`,
    );
  }

  const dek = await keys.keyring.openDek(record);
  let plaintext: Buffer | undefined;
  try {
    plaintext = openGcm(dek, totp.ciphertext, totpAssociatedData(userId, record.id));
    return plaintext.toString('utf8');
  } finally {
    dek.fill(0);
    plaintext?.fill(0);
  }
}
