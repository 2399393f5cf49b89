/**
 * AES key wrap (RFC 3394, section 2.2) over a block operation that the caller supplies. Each AES
 * block operation can so run where the key is, for example on an HSM with CKM_AES_ECB when the
 * path to it offers ECB but not CKM_AES_KEY_WRAP. With the default initial value A6A6A6A6A6A6A6A6,
 * the output equals CKM_AES_KEY_WRAP's without a parameter (PKCS#11 v2.40 uses RFC 3394's default
 * initial value then), as test/integration/hsm-ecb-key-wrap.test.ts checks against SoftHSM 2.6.1.
 */
import { timingSafeEqual } from 'node:crypto';

/** One AES block operation (encrypt for wrap, decrypt for unwrap) on a 16-byte block. */
export type AesBlockOperation = (block: Buffer) => Promise<Buffer>;

/** The default initial value of RFC 3394, section 2.2.3.1. */
const DEFAULT_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const SEMIBLOCK_BYTES = 8;
const BLOCK_BYTES = 16;
/** Rounds over all semiblocks: RFC 3394 runs j = 0..5. */
const ROUNDS = 6;

/** The wrapped key failed the integrity check of RFC 3394, section 2.2.3: wrong key or changed data. */
export class KeyWrapIntegrityError extends Error {
  override readonly name = 'KeyWrapIntegrityError';
}

/**
 * Wraps `keyData` (a multiple of 8 bytes, at least 16) with the index-based form of RFC 3394,
 * section 2.2.1, and returns A || R[1] .. R[n], 8 bytes longer than the input. Intermediate values
 * are zeroed before it returns.
 */
export async function aesKeyWrap(encrypt: AesBlockOperation, keyData: Buffer): Promise<Buffer> {
  if (keyData.length % SEMIBLOCK_BYTES !== 0 || keyData.length < 2 * SEMIBLOCK_BYTES) {
    throw new RangeError(
      `key data must be a multiple of ${SEMIBLOCK_BYTES} bytes and at least ${2 * SEMIBLOCK_BYTES}, got ${keyData.length}`,
    );
  }
  const n = keyData.length / SEMIBLOCK_BYTES;
  const a = Buffer.from(DEFAULT_IV);
  const r = Buffer.alloc(keyData.length);
  const input = Buffer.alloc(BLOCK_BYTES);
  keyData.copy(r);

  try {
    for (let j = 0; j < ROUNDS; j++) {
      for (let i = 1; i <= n; i++) {
        const offset = (i - 1) * SEMIBLOCK_BYTES;
        a.copy(input, 0);
        r.copy(input, SEMIBLOCK_BYTES, offset, offset + SEMIBLOCK_BYTES);

        // B = AES(K, A | R[i]); A = MSB(64, B) ^ t; R[i] = LSB(64, B), with t = n*j + i.
        const b = await runBlock(encrypt, input);
        b.copy(a, 0, 0, SEMIBLOCK_BYTES);
        xorCounter(a, n * j + i);
        b.copy(r, offset, SEMIBLOCK_BYTES, BLOCK_BYTES);
        b.fill(0);
      }
    }
    return Buffer.concat([a, r]);
  } finally {
    a.fill(0);
    r.fill(0);
    input.fill(0);
  }
}

/**
 * Unwraps the output of aesKeyWrap (RFC 3394, section 2.2.2) and checks the integrity value
 * against the default initial value in constant time. Throws KeyWrapIntegrityError when it does
 * not match. The returned key is the caller's to zero.
 */
export async function aesKeyUnwrap(decrypt: AesBlockOperation, wrapped: Buffer): Promise<Buffer> {
  if (wrapped.length % SEMIBLOCK_BYTES !== 0 || wrapped.length < 3 * SEMIBLOCK_BYTES) {
    throw new KeyWrapIntegrityError(
      `the wrapped key has ${wrapped.length} bytes, but RFC 3394 output is a multiple of ${SEMIBLOCK_BYTES} bytes and at least ${3 * SEMIBLOCK_BYTES}`,
    );
  }
  const n = wrapped.length / SEMIBLOCK_BYTES - 1;
  const a = Buffer.alloc(SEMIBLOCK_BYTES);
  const r = Buffer.alloc(wrapped.length - SEMIBLOCK_BYTES);
  const input = Buffer.alloc(BLOCK_BYTES);
  wrapped.copy(a, 0, 0, SEMIBLOCK_BYTES);
  wrapped.copy(r, 0, SEMIBLOCK_BYTES);

  try {
    for (let j = ROUNDS - 1; j >= 0; j--) {
      for (let i = n; i >= 1; i--) {
        const offset = (i - 1) * SEMIBLOCK_BYTES;
        xorCounter(a, n * j + i);
        a.copy(input, 0);
        r.copy(input, SEMIBLOCK_BYTES, offset, offset + SEMIBLOCK_BYTES);

        // B = AES-1(K, (A ^ t) | R[i]); A = MSB(64, B); R[i] = LSB(64, B).
        const b = await runBlock(decrypt, input);
        b.copy(a, 0, 0, SEMIBLOCK_BYTES);
        b.copy(r, offset, SEMIBLOCK_BYTES, BLOCK_BYTES);
        b.fill(0);
      }
    }

    if (!timingSafeEqual(a, DEFAULT_IV)) {
      throw new KeyWrapIntegrityError(
        'the integrity check value of the wrapped key does not match (RFC 3394, section 2.2.3)',
      );
    }
    const keyData = Buffer.alloc(r.length);
    r.copy(keyData);
    return keyData;
  } finally {
    a.fill(0);
    r.fill(0);
    input.fill(0);
  }
}

/** Runs one block operation and checks that it returned exactly one block. */
async function runBlock(operation: AesBlockOperation, input: Buffer): Promise<Buffer> {
  const output = await operation(input);
  if (output.length !== BLOCK_BYTES) {
    output.fill(0);
    throw new RangeError(
      `an AES block operation returned ${output.length} bytes, expected ${BLOCK_BYTES}`,
    );
  }
  return output;
}

/** XORs the 64-bit big-endian counter t into A (RFC 3394, section 2.2.1, step 2). */
function xorCounter(a: Buffer, t: number): void {
  let rest = t;
  for (let index = SEMIBLOCK_BYTES - 1; index >= 0 && rest > 0; index--) {
    a[index] = (a[index] ?? 0) ^ (rest & 0xff);
    rest = Math.floor(rest / 256);
  }
}
