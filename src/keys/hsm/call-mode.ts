import type { Mechanism, PKCS11, Template } from 'pkcs11js';

/**
 * The way a wrap or unwrap makes the PKCS#11 calls that do the cryptographic work. 'async' uses
 * pkcs11js's C_*Async variants, which run the call on the libuv thread pool, so the calling
 * thread's event loop keeps serving other sessions meanwhile. 'blocking' runs the call on the
 * calling thread and saves the hand-over to the thread pool, for a thread that has nothing else to
 * do (a batch thread).
 */
export type CallMode = 'async' | 'blocking';

export async function encryptCall(
  pkcs11: PKCS11,
  mode: CallMode,
  session: Buffer,
  data: Buffer,
  output: Buffer,
): Promise<Buffer> {
  return mode === 'async'
    ? pkcs11.C_EncryptAsync(session, data, output)
    : pkcs11.C_Encrypt(session, data, output);
}

export async function decryptCall(
  pkcs11: PKCS11,
  mode: CallMode,
  session: Buffer,
  data: Buffer,
  output: Buffer,
): Promise<Buffer> {
  return mode === 'async'
    ? pkcs11.C_DecryptAsync(session, data, output)
    : pkcs11.C_Decrypt(session, data, output);
}

export async function wrapKeyCall(
  pkcs11: PKCS11,
  mode: CallMode,
  session: Buffer,
  mechanism: Mechanism,
  wrappingKey: Buffer,
  key: Buffer,
  output: Buffer,
): Promise<Buffer> {
  return mode === 'async'
    ? pkcs11.C_WrapKeyAsync(session, mechanism, wrappingKey, key, output)
    : pkcs11.C_WrapKey(session, mechanism, wrappingKey, key, output);
}

export async function unwrapKeyCall(
  pkcs11: PKCS11,
  mode: CallMode,
  session: Buffer,
  mechanism: Mechanism,
  unwrappingKey: Buffer,
  wrapped: Buffer,
  template: Template,
): Promise<Buffer> {
  return mode === 'async'
    ? pkcs11.C_UnwrapKeyAsync(session, mechanism, unwrappingKey, wrapped, template)
    : pkcs11.C_UnwrapKey(session, mechanism, unwrappingKey, wrapped, template);
}
