/**
 * AES-GCM wraps in blocking calls, for a batch thread or process that has nothing else to do while
 * the token works. They make the same PKCS#11 calls as wrapInSession and wrapAndReopenInSession,
 * with less work around each call: no promise per step, and one mechanism object for both the
 * encryption and the decryption that reopens it.
 */
import type { Mechanism, PKCS11 } from 'pkcs11js';
import { checkReopened } from '../reopen-check.js';
import { reopenFailure } from './dek-operations.js';
import { GCM_IV_BYTES, GCM_TAG_BYTES, gcmMechanism, newGcmIv } from './gcm.js';

/**
 * Wraps a DEK under the master key and returns IV || ciphertext || tag. With `reopen`, it then
 * decrypts the new wrapping and returns it only when it opens to the DEK, with the errors of
 * wrapAndReopenInSession. Token errors are thrown as they are.
 */
export function wrapWithGcmBlocking(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  dek: Buffer,
  aad: Buffer,
  reopen: boolean,
): Buffer {
  const wrapped = Buffer.alloc(GCM_IV_BYTES + dek.length + GCM_TAG_BYTES);
  const iv = newGcmIv();
  iv.copy(wrapped);
  const mechanism = gcmMechanism(iv, aad);
  pkcs11.C_EncryptInit(session, mechanism, masterKey);
  const sealed = pkcs11.C_Encrypt(session, dek, wrapped.subarray(GCM_IV_BYTES));
  if (reopen) {
    reopenSealed(pkcs11, session, masterKey, mechanism, sealed, dek);
  }
  return wrapped.subarray(0, GCM_IV_BYTES + sealed.length);
}

function reopenSealed(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  mechanism: Mechanism,
  sealed: Buffer,
  dek: Buffer,
): void {
  // SoftHSM 2.6 wants an output buffer as long as the input, tag included.
  const output = Buffer.alloc(sealed.length);
  try {
    let opened: Buffer;
    try {
      pkcs11.C_DecryptInit(session, mechanism, masterKey);
      opened = pkcs11.C_Decrypt(session, sealed, output);
    } catch (error) {
      throw reopenFailure(error);
    }
    checkReopened(dek, opened);
  } finally {
    output.fill(0);
  }
}
