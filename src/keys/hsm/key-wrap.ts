import { createHmac, timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { PKCS11, Template } from 'pkcs11js';
import { unwrapKeyCall, wrapKeyCall, type CallMode } from './call-mode.js';
import type { HsmLog } from './hsm-log.js';
import { describeFailure } from './pkcs11-failures.js';

/** Length of the HMAC-SHA256 that binds a key-wrapped DEK to its associated data. */
export const BINDING_BYTES = 32;

/**
 * Room in the output buffer beyond the key: an 8-byte integrity block plus up to a 16-byte padding
 * block, since CKM_AES_KEY_WRAP_PAD pads with PKCS#7 on some tokens.
 */
const WRAP_OVERHEAD_BYTES = 24;

export type KeyWrapMechanism = 'aes-key-wrap-pad' | 'aes-key-wrap';

const keyWrapCodes: Readonly<Record<KeyWrapMechanism, number>> = {
  'aes-key-wrap-pad': pkcs11js.CKM_AES_KEY_WRAP_PAD,
  'aes-key-wrap': pkcs11js.CKM_AES_KEY_WRAP,
};

/**
 * Attributes of a DEK while it is a session object: it lives only in this session (CKA_TOKEN
 * false), and C_WrapKey and C_GetAttributeValue may read it (extractable, not sensitive).
 */
const sessionDekTemplate: Template = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
  { type: pkcs11js.CKA_TOKEN, value: false },
  { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  { type: pkcs11js.CKA_SENSITIVE, value: false },
];

/**
 * Computes HMAC-SHA256 keyed with the DEK over the associated data. Key wrap has no associated
 * data, so this tag binds the wrapped DEK to its row: a wrapped DEK copied into another row fails
 * the check, because only the holder of the DEK can compute the tag for that row.
 */
export function bindingTag(dek: Buffer, aad: Buffer): Buffer {
  return createHmac('sha256', dek).update(aad).digest();
}

/**
 * Wraps a DEK with CKM_AES_KEY_WRAP (RFC 3394) or CKM_AES_KEY_WRAP_PAD under the master key and
 * appends the binding tag. The DEK is imported as a session object for C_WrapKey and destroyed
 * afterwards.
 */
export async function wrapWithKeyWrap(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  mechanism: KeyWrapMechanism,
  dek: Buffer,
  aad: Buffer,
  log: HsmLog,
  mode: CallMode = 'async',
): Promise<Buffer> {
  const dekObject = pkcs11.C_CreateObject(session, [
    ...sessionDekTemplate,
    { type: pkcs11js.CKA_VALUE, value: dek },
  ]);
  try {
    const output = Buffer.alloc(dek.length + WRAP_OVERHEAD_BYTES);
    const wrapped = await wrapKeyCall(
      pkcs11,
      mode,
      session,
      { mechanism: keyWrapCodes[mechanism] },
      masterKey,
      dekObject,
      output,
    );
    return Buffer.concat([wrapped, bindingTag(dek, aad)]);
  } finally {
    destroySessionObject(pkcs11, session, dekObject, log);
  }
}

/**
 * Unwraps a DEK made by wrapWithKeyWrap() and checks its binding tag in constant time. Throws
 * whatever the token reports for a damaged record (SoftHSM 2.6 reports CKR_GENERAL_ERROR), or a
 * KeyBindingError. The caller turns every failure into one generic error.
 */
export async function unwrapWithKeyWrap(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  mechanism: KeyWrapMechanism,
  wrapped: Buffer,
  aad: Buffer,
  log: HsmLog,
  mode: CallMode = 'async',
): Promise<Buffer> {
  if (wrapped.length <= BINDING_BYTES) {
    throw new KeyBindingError(
      `wrapped DEK has ${wrapped.length} bytes, too few for key wrap output and a binding tag`,
    );
  }

  const body = wrapped.subarray(0, wrapped.length - BINDING_BYTES);
  const tag = wrapped.subarray(wrapped.length - BINDING_BYTES);
  const dekObject = await unwrapKeyCall(
    pkcs11,
    mode,
    session,
    { mechanism: keyWrapCodes[mechanism] },
    masterKey,
    body,
    sessionDekTemplate,
  );

  let dek: Buffer;
  try {
    const [attribute] = pkcs11.C_GetAttributeValue(session, dekObject, [
      { type: pkcs11js.CKA_VALUE },
    ]);
    // Buffer.alloc never takes memory from the shared pool, unlike Buffer.from.
    const value = attribute?.value ?? Buffer.alloc(0);
    dek = Buffer.alloc(value.length);
    value.copy(dek);
    value.fill(0);
  } finally {
    destroySessionObject(pkcs11, session, dekObject, log);
  }

  if (!timingSafeEqual(bindingTag(dek, aad), tag)) {
    dek.fill(0);
    throw new KeyBindingError('binding tag does not match the associated data');
  }
  return dek;
}

/** The unwrapped DEK does not belong to this row, or the record is too short to hold a binding tag. */
export class KeyBindingError extends Error {
  override readonly name = 'KeyBindingError';
}

/**
 * Destroys a session object that held a DEK. A failure is logged and not thrown: the object goes
 * away with its session in any case, and the operation's own result matters more.
 */
export function destroySessionObject(
  pkcs11: PKCS11,
  session: Buffer,
  object: Buffer,
  log: HsmLog,
): void {
  try {
    pkcs11.C_DestroyObject(session, object);
  } catch (error) {
    log.warn('C_DestroyObject failed for a session key, which stays until its session closes', {
      ckr: describeFailure(error),
    });
  }
}
