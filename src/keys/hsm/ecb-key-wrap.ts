/**
 * The `ecb-rfc3394` key wrap mode: RFC 3394 key wrap computed by Strongroom, with each AES block
 * operation done on the token by C_Encrypt or C_Decrypt with CKM_AES_ECB. It exists for token
 * paths that offer ECB but neither CKM_AES_GCM nor CKM_AES_KEY_WRAP, such as p11-kit 0.24's RPC.
 * The master key never leaves the token, and the record is byte for byte the one that
 * wrapWithKeyWrap() makes with CKM_AES_KEY_WRAP: the RFC 3394 output followed by the binding tag.
 */
import { timingSafeEqual } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { aesKeyUnwrap, aesKeyWrap, type AesBlockOperation } from '../../crypto/aes-key-wrap.js';
import { BINDING_BYTES, bindingTag, KeyBindingError } from './key-wrap.js';

const AES_BLOCK_BYTES = 16;

/** Wraps a DEK as CKM_AES_KEY_WRAP would, and appends the binding tag over `aad`. */
export async function wrapWithEcbKeyWrap(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  dek: Buffer,
  aad: Buffer,
): Promise<Buffer> {
  const wrapped = await aesKeyWrap(ecbOnToken(pkcs11, session, masterKey, 'encrypt'), dek);
  return Buffer.concat([wrapped, bindingTag(dek, aad)]);
}

/**
 * Unwraps a record made by wrapWithEcbKeyWrap() or by wrapWithKeyWrap() with CKM_AES_KEY_WRAP, and
 * checks the RFC 3394 integrity value and the binding tag, both in constant time. Throws a
 * KeyWrapIntegrityError, a KeyBindingError or the token's error, which the caller turns into one
 * generic error.
 */
export async function unwrapWithEcbKeyWrap(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  wrapped: Buffer,
  aad: Buffer,
): Promise<Buffer> {
  if (wrapped.length <= BINDING_BYTES) {
    throw new KeyBindingError(
      `wrapped DEK has ${wrapped.length} bytes, too few for key wrap output and a binding tag`,
    );
  }

  const body = wrapped.subarray(0, wrapped.length - BINDING_BYTES);
  const tag = wrapped.subarray(wrapped.length - BINDING_BYTES);
  const dek = await aesKeyUnwrap(ecbOnToken(pkcs11, session, masterKey, 'decrypt'), body);

  if (!timingSafeEqual(bindingTag(dek, aad), tag)) {
    dek.fill(0);
    throw new KeyBindingError('binding tag does not match the associated data');
  }
  return dek;
}

/**
 * Returns one AES-ECB block operation under `key` on the token. Errors are left as pkcs11js throws
 * them, so that a lost connection keeps its CKR and leads to a reconnect.
 */
function ecbOnToken(
  pkcs11: PKCS11,
  session: Buffer,
  key: Buffer,
  direction: 'encrypt' | 'decrypt',
): AesBlockOperation {
  const mechanism = { mechanism: pkcs11js.CKM_AES_ECB };
  if (direction === 'encrypt') {
    return (block) => {
      pkcs11.C_EncryptInit(session, mechanism, key);
      return pkcs11.C_EncryptAsync(session, block, Buffer.alloc(AES_BLOCK_BYTES));
    };
  }
  return (block) => {
    pkcs11.C_DecryptInit(session, mechanism, key);
    return pkcs11.C_DecryptAsync(session, block, Buffer.alloc(AES_BLOCK_BYTES));
  };
}
