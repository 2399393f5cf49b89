import { createCipheriv } from 'node:crypto';

/**
 * Computes the key check value of an AES key: the first 3 bytes of AES-ECB over a zero block, in
 * hex. This is how PKCS#11 v2.40 defines CKA_CHECK_VALUE for AES keys, so a file key and an HSM
 * key holding the same bytes get the same value.
 */
export function aesKeyCheckValue(key: Buffer): string {
  const cipher = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  cipher.setAutoPadding(false);
  const block = Buffer.concat([cipher.update(Buffer.alloc(16)), cipher.final()]);
  return block.subarray(0, 3).toString('hex');
}
