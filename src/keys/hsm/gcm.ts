import pkcs11js from 'pkcs11js';
import type { GcmParams, Mechanism, PKCS11 } from 'pkcs11js';
import { GCM_IV_BYTES, newGcmIv as drawGcmIv } from '../../crypto/gcm-iv.js';
import { decryptCall, encryptCall, type CallMode } from './call-mode.js';

export { GCM_IV_BYTES };
export const GCM_TAG_BYTES = 16;

/**
 * Makes the IV of one AES-GCM encryption under the master key. This is the only place where the
 * HSM provider picks an IV, so support for an HSM that generates the IV itself (some do in FIPS
 * mode, and return it in the mechanism parameters) belongs here.
 */
export function newGcmIv(): Buffer {
  return drawGcmIv();
}

/**
 * Builds CKM_AES_GCM with CK_GCM_PARAMS (PKCS#11 v2.40). ivBits and tagBits are set explicitly:
 * the older CK_AES_GCM_PARAMS layout leaves ulIvBits uninitialised, which some modules reject.
 */
export function gcmMechanism(iv: Buffer, aad: Buffer): Mechanism {
  const parameter: GcmParams = {
    type: pkcs11js.CK_PARAMS_GCM,
    iv,
    aad,
    ivBits: iv.length * 8,
    tagBits: GCM_TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/**
 * Encrypts with AES-GCM on the token and returns ciphertext || tag, written into `output` when
 * given (at least as long as the plaintext and a tag).
 */
export async function gcmEncrypt(
  pkcs11: PKCS11,
  session: Buffer,
  key: Buffer,
  iv: Buffer,
  plaintext: Buffer,
  aad: Buffer,
  mode: CallMode = 'async',
  output: Buffer = Buffer.alloc(plaintext.length + GCM_TAG_BYTES),
): Promise<Buffer> {
  pkcs11.C_EncryptInit(session, gcmMechanism(iv, aad), key);
  return encryptCall(pkcs11, mode, session, plaintext, output);
}

/**
 * Decrypts ciphertext || tag with AES-GCM on the token. The output buffer is as long as the input,
 * because SoftHSM 2.6 returns CKR_BUFFER_TOO_SMALL for anything shorter.
 */
export async function gcmDecrypt(
  pkcs11: PKCS11,
  session: Buffer,
  key: Buffer,
  iv: Buffer,
  sealed: Buffer,
  aad: Buffer,
  mode: CallMode = 'async',
): Promise<Buffer> {
  pkcs11.C_DecryptInit(session, gcmMechanism(iv, aad), key);
  return decryptCall(pkcs11, mode, session, sealed, Buffer.alloc(sealed.length));
}

/** Wraps a DEK with AES-GCM under the master key and returns IV || ciphertext || tag. */
export async function wrapWithGcm(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  dek: Buffer,
  aad: Buffer,
  mode: CallMode = 'async',
): Promise<Buffer> {
  const wrapped = Buffer.alloc(GCM_IV_BYTES + dek.length + GCM_TAG_BYTES);
  const iv = newGcmIv();
  iv.copy(wrapped);
  const body = wrapped.subarray(GCM_IV_BYTES);
  const sealed = await gcmEncrypt(pkcs11, session, masterKey, iv, dek, aad, mode, body);
  return wrapped.subarray(0, GCM_IV_BYTES + sealed.length);
}

/**
 * Unwraps IV || ciphertext || tag. Throws whatever the token reports, including for a bad tag
 * (SoftHSM 2.6 reports CKR_GENERAL_ERROR), or a RangeError for a record too short to hold an IV
 * and a tag. The caller turns every failure into one generic error.
 */
export async function unwrapWithGcm(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  wrapped: Buffer,
  aad: Buffer,
  mode: CallMode = 'async',
): Promise<Buffer> {
  if (wrapped.length < GCM_IV_BYTES + GCM_TAG_BYTES) {
    throw new RangeError(`wrapped DEK has ${wrapped.length} bytes, fewer than an IV and a tag`);
  }

  const iv = wrapped.subarray(0, GCM_IV_BYTES);
  const sealed = wrapped.subarray(GCM_IV_BYTES);
  return gcmDecrypt(pkcs11, session, masterKey, iv, sealed, aad, mode);
}
