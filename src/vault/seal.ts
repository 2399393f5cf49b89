import { sealGcm } from '../crypto/aes-gcm.js';
import { secretAssociatedData } from '../crypto/associated-data.js';
import type { Keyring } from '../keys/keyring.js';
import type { DekRecord } from '../store/repositories.js';

/**
 * Encrypts a secret version under a new DEK with AES-256-GCM. The associated data binds the
 * ciphertext to the account, the DEK and the version number. The plaintext DEK and the encoded
 * secret are zeroed before this returns.
 */
export async function sealSecret(
  keyring: Pick<Keyring, 'newDek'>,
  accountId: string,
  version: number,
  secret: string,
): Promise<{ dek: DekRecord; ciphertext: Buffer }> {
  const { record, dek } = await keyring.newDek();
  const plaintext = Buffer.from(secret, 'utf8');
  try {
    const ciphertext = sealGcm(dek, plaintext, secretAssociatedData(accountId, record.id, version));
    return { dek: record, ciphertext };
  } finally {
    dek.fill(0);
    plaintext.fill(0);
  }
}
