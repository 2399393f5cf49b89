import { createCipheriv, createDecipheriv } from 'node:crypto';
import { StrongroomError } from '../errors.js';
import { GCM_IV_BYTES, newGcmIv } from './gcm-iv.js';

export { GCM_IV_BYTES, newGcmIv };
export const GCM_TAG_BYTES = 16;
export const AES_256_KEY_BYTES = 32;

/** Encrypts with AES-256-GCM and returns IV || ciphertext || tag. */
export function sealGcm(
  key: Buffer,
  plaintext: Buffer,
  aad: Buffer,
  iv: Buffer = newGcmIv(),
): Buffer {
  assertKey(key);
  if (iv.length !== GCM_IV_BYTES) {
    throw new RangeError(`GCM IV must be ${GCM_IV_BYTES} bytes, got ${iv.length}`);
  }

  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/**
 * Opens IV || ciphertext || tag. A wrong key, a changed byte or other associated data all give the
 * same SR_DECRYPT_FAILED, so a caller learns nothing about which check failed.
 */
export function openGcm(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  assertKey(key);
  if (sealed.length < GCM_IV_BYTES + GCM_TAG_BYTES) {
    throw decryptFailed();
  }

  const iv = sealed.subarray(0, GCM_IV_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const body = sealed.subarray(GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw decryptFailed();
  }
}

function assertKey(key: Buffer): void {
  if (key.length !== AES_256_KEY_BYTES) {
    throw new RangeError(`AES-256 key must be ${AES_256_KEY_BYTES} bytes, got ${key.length}`);
  }
}

function decryptFailed(): StrongroomError {
  return new StrongroomError(
    'SR_DECRYPT_FAILED',
    'A stored value could not be decrypted: the key is wrong or the data was changed',
  );
}
