import { createHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
import type { MasterKeyAttributes } from './master-key.js';
import { destroySessionObject } from './key-wrap.js';
import { callPkcs11 } from './pkcs11-failures.js';

const KCV_BYTES = 3;
const AES_BLOCK_BYTES = 16;

/** Source of a key check value. */
export type KcvSource = 'CKA_CHECK_VALUE' | 'CKM_AES_ECB' | 'derived-key-wrap';

export interface KeyCheckValue {
  /** Hex of 3 bytes. */
  kcv: string;
  source: KcvSource;
}

/**
 * Determines the key check value of the master key, which every DEK row stores so that nothing is
 * decrypted under the wrong key. PKCS#11 v2.40 defines CKA_CHECK_VALUE of an AES key as the first
 * 3 bytes of AES-ECB over a zero block. The token's own attribute is preferred, then that
 * computation with CKM_AES_ECB, then a value derived with key wrap.
 */
export function readKeyCheckValue(
  pkcs11: PKCS11,
  session: Buffer,
  masterKey: Buffer,
  offered: readonly number[],
  attributes: MasterKeyAttributes,
  log: HsmLog,
): KeyCheckValue {
  const fromAttribute = readCheckValueAttribute(pkcs11, session, masterKey);
  if (fromAttribute !== undefined) {
    return { kcv: fromAttribute, source: 'CKA_CHECK_VALUE' };
  }

  if (offered.includes(pkcs11js.CKM_AES_ECB) && attributes.encrypt) {
    return { kcv: computeEcbCheckValue(pkcs11, session, masterKey), source: 'CKM_AES_ECB' };
  }

  const wrapMechanism = [pkcs11js.CKM_AES_KEY_WRAP, pkcs11js.CKM_AES_KEY_WRAP_PAD].find((code) =>
    offered.includes(code),
  );
  if (wrapMechanism !== undefined && attributes.wrap) {
    return {
      kcv: deriveCheckValueByKeyWrap(pkcs11, session, masterKey, wrapMechanism, log),
      source: 'derived-key-wrap',
    };
  }

  throw new StrongroomError(
    'SR_HSM_MECHANISM_UNSUPPORTED',
    'the token returns no CKA_CHECK_VALUE for the master key and offers neither CKM_AES_ECB nor AES key wrap for it, ' +
      'so Strongroom cannot compute the key check value that each DEK row records. Allow CKA_ENCRYPT with CKM_AES_ECB, or CKA_WRAP with key wrap.',
  );
}

/** Reads CKA_CHECK_VALUE, or returns undefined when the token does not provide it. */
function readCheckValueAttribute(pkcs11: PKCS11, session: Buffer, key: Buffer): string | undefined {
  try {
    const [attribute] = pkcs11.C_GetAttributeValue(session, key, [
      { type: pkcs11js.CKA_CHECK_VALUE },
    ]);
    if (attribute === undefined || attribute.value.length < KCV_BYTES) {
      return undefined;
    }
    return attribute.value.subarray(0, KCV_BYTES).toString('hex');
  } catch {
    // Tokens before PKCS#11 v2.40 return CKR_ATTRIBUTE_TYPE_INVALID, so the fallbacks below apply.
    return undefined;
  }
}

/** Computes the PKCS#11 v2.40 check value: AES-ECB of a zero block on the token, first 3 bytes. */
export function computeEcbCheckValue(pkcs11: PKCS11, session: Buffer, key: Buffer): string {
  callPkcs11('C_EncryptInit', () =>
    pkcs11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, key),
  );
  const block = callPkcs11('C_Encrypt', () =>
    pkcs11.C_Encrypt(session, Buffer.alloc(AES_BLOCK_BYTES), Buffer.alloc(AES_BLOCK_BYTES)),
  );
  return block.subarray(0, KCV_BYTES).toString('hex');
}

/**
 * Derives a stable check value for a token that offers neither CKA_CHECK_VALUE nor ECB. It wraps
 * an all-zero 32-byte session key and takes the first 3 bytes of SHA-256 over the output. Key wrap
 * is deterministic, because RFC 3394 uses a fixed initial value. Like a KCV, the result reveals
 * only the encryption of a known value under the key.
 *
 * NOTE: the derived value differs from the standard KCV of the same key, so a file key with the
 * same bytes would not match it. SoftHSM always provides CKA_CHECK_VALUE, so the tests do not
 * reach this path through the provider, but test/integration/hsm-vectors.test.ts calls it directly.
 */
export function deriveCheckValueByKeyWrap(
  pkcs11: PKCS11,
  session: Buffer,
  key: Buffer,
  mechanism: number,
  log: HsmLog,
): string {
  const zeroKey = callPkcs11('C_CreateObject', () =>
    pkcs11.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_VALUE, value: Buffer.alloc(32) },
    ]),
  );
  try {
    const wrapped = callPkcs11('C_WrapKey', () =>
      pkcs11.C_WrapKey(session, { mechanism }, key, zeroKey, Buffer.alloc(48)),
    );
    return createHash('sha256').update(wrapped).digest().subarray(0, KCV_BYTES).toString('hex');
  } finally {
    destroySessionObject(pkcs11, session, zeroKey, log);
  }
}
