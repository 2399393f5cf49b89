import { randomBytes } from 'node:crypto';

/** NIST SP 800-38D section 8.2: a random 96-bit IV, so no IV repeats under one key in practice. */
export const GCM_IV_BYTES = 12;

/**
 * IVs drawn from the random generator at once. One call for 12 bytes costs about as much as one
 * for several kilobytes, and a batch of DEKs needs one IV each.
 */
const IVS_PER_DRAW = 256;

let drawn = Buffer.alloc(0);
let used = 0;

/**
 * Returns a fresh random IV for one GCM encryption, in Node or on the token. Each IV is a view of
 * 12 bytes of a larger random block that no other call returns, and nothing writes to the block
 * after it is drawn. Keeping IVs in memory before their use is harmless: an IV is public, and it is
 * stored beside its ciphertext.
 */
export function newGcmIv(): Buffer {
  if (used + GCM_IV_BYTES > drawn.length) {
    drawn = randomBytes(GCM_IV_BYTES * IVS_PER_DRAW);
    used = 0;
  }
  const iv = drawn.subarray(used, used + GCM_IV_BYTES);
  used += GCM_IV_BYTES;
  return iv;
}
