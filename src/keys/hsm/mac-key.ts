import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import type { MacAlgorithm } from '../mac-key.js';
import { readUlong } from './master-key.js';
import { callPkcs11, hasCkr, unexpectedPkcs11Failure } from './pkcs11-failures.js';
import { findObjects } from './token-objects.js';

/** The command that creates the audit checkpoint key, for messages. */
export const AUDIT_KEYGEN_COMMAND = 'strongroom hsm keygen --audit';

/** Bytes of an HMAC-SHA256 or AES-CMAC output (PKCS#11 v2.40, sections 2.8.4 and 2.18.4). */
const MAC_BYTES: Record<MacAlgorithm, number> = { 'hmac-sha256': 32, 'aes-cmac': 16 };

/** An audit key found on the token and checked, with the mechanism that its key type needs. */
export interface MacKeyHandle {
  handle: Buffer;
  algorithm: MacAlgorithm;
  mechanism: number;
}

/**
 * Finds the one secret key labelled `keyLabel` and checks that it can serve as the audit checkpoint
 * key: a generic secret or SHA-256 HMAC key (CKM_SHA256_HMAC) or an AES key (CKM_AES_CMAC),
 * sensitive, never extractable, with CKA_SIGN and CKA_VERIFY. Throws SR_AUDIT_KEY_NOT_FOUND or
 * SR_AUDIT_KEY_INVALID naming the label and the fix.
 */
export function findMacKey(pkcs11: PKCS11, session: Buffer, keyLabel: string): MacKeyHandle {
  const matches = findObjects(pkcs11, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: keyLabel },
  ]);
  const [handle] = matches;
  if (handle === undefined) {
    throw new StrongroomError(
      'SR_AUDIT_KEY_NOT_FOUND',
      `no secret key is labelled '${keyLabel}' on the token, so audit checkpoints cannot be MAC'd. Create it with '${AUDIT_KEYGEN_COMMAND} --label "${keyLabel}"', or set strongroom.audit.keyLabel in security.properties to the label of an existing HMAC or AES key.`,
      { details: { keyLabel } },
    );
  }
  if (matches.length > 1) {
    throw invalid(keyLabel, `${matches.length} secret keys have this label; keep exactly one`);
  }

  const attributes = readAttributes(pkcs11, session, handle);
  const algorithm = algorithmOf(attributes.keyType);
  if (algorithm === undefined) {
    throw invalid(
      keyLabel,
      `its key type 0x${attributes.keyType.toString(16)} is neither CKK_GENERIC_SECRET, CKK_SHA256_HMAC nor CKK_AES`,
    );
  }
  const faults = [
    attributes.sensitive ? undefined : 'CKA_SENSITIVE is false',
    attributes.extractable ? 'CKA_EXTRACTABLE is true' : undefined,
    attributes.sign ? undefined : 'CKA_SIGN is false',
    attributes.verify ? undefined : 'CKA_VERIFY is false',
  ].filter((fault) => fault !== undefined);
  if (faults.length > 0) {
    throw invalid(keyLabel, faults.join(', '));
  }

  const mechanism = algorithm === 'aes-cmac' ? pkcs11js.CKM_AES_CMAC : pkcs11js.CKM_SHA256_HMAC;
  return { handle, algorithm, mechanism };
}

/**
 * Computes the MAC over `data` with C_Sign. The call is synchronous, so that the token tools can use
 * it inside their synchronous login. NOTE: in the worker it blocks the worker's event loop for one
 * HSM round trip, which delays concurrent wraps only as often as checkpoints are written.
 */
export function signWithMacKey(
  pkcs11: PKCS11,
  session: Buffer,
  key: MacKeyHandle,
  data: Buffer,
): Buffer {
  callPkcs11('C_SignInit', () =>
    pkcs11.C_SignInit(session, { mechanism: key.mechanism }, key.handle),
  );
  try {
    return pkcs11.C_Sign(session, data, Buffer.alloc(MAC_BYTES[key.algorithm]));
  } catch (error) {
    throw wrapFailure('C_Sign', error);
  }
}

/** Checks a MAC over `data` with C_Verify (synchronous); a wrong MAC or MAC length returns false. */
export function verifyWithMacKey(
  pkcs11: PKCS11,
  session: Buffer,
  key: MacKeyHandle,
  data: Buffer,
  mac: Buffer,
): boolean {
  callPkcs11('C_VerifyInit', () =>
    pkcs11.C_VerifyInit(session, { mechanism: key.mechanism }, key.handle),
  );
  try {
    return pkcs11.C_Verify(session, data, mac);
  } catch (error) {
    if (
      hasCkr(error, pkcs11js.CKR_SIGNATURE_INVALID) ||
      hasCkr(error, pkcs11js.CKR_SIGNATURE_LEN_RANGE)
    ) {
      return false;
    }
    throw wrapFailure('C_Verify', error);
  }
}

/**
 * Generates the audit checkpoint key with C_GenerateKey (CKM_GENERIC_SECRET_KEY_GEN): a 256-bit
 * CKK_GENERIC_SECRET token object, private, sensitive, never extractable, allowed only to sign and
 * verify, for CKM_SHA256_HMAC. It is a key of its own, so the master key is never used for MACs.
 */
export function generateMacKey(
  pkcs11: PKCS11,
  session: Buffer,
  keyLabel: string,
  id: Buffer,
): void {
  const template: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_LABEL, value: keyLabel },
    { type: pkcs11js.CKA_ID, value: id },
  ];
  callPkcs11('C_GenerateKey', () =>
    pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, template),
  );
}

function algorithmOf(keyType: number): MacAlgorithm | undefined {
  if (keyType === pkcs11js.CKK_AES) {
    return 'aes-cmac';
  }
  if (keyType === pkcs11js.CKK_GENERIC_SECRET || keyType === pkcs11js.CKK_SHA256_HMAC) {
    return 'hmac-sha256';
  }
  return undefined;
}

function readAttributes(pkcs11: PKCS11, session: Buffer, key: Buffer) {
  const types = [
    pkcs11js.CKA_KEY_TYPE,
    pkcs11js.CKA_SENSITIVE,
    pkcs11js.CKA_EXTRACTABLE,
    pkcs11js.CKA_SIGN,
    pkcs11js.CKA_VERIFY,
  ];
  const result = callPkcs11('C_GetAttributeValue', () =>
    pkcs11.C_GetAttributeValue(
      session,
      key,
      types.map((type) => ({ type })),
    ),
  );
  const value = (type: number): Buffer =>
    result.find((attribute) => attribute.type === type)?.value ?? Buffer.alloc(0);
  const flag = (type: number): boolean => {
    const bytes = value(type);
    return bytes.length > 0 && bytes[0] !== 0;
  };
  return {
    keyType: readUlong(value(pkcs11js.CKA_KEY_TYPE)),
    sensitive: flag(pkcs11js.CKA_SENSITIVE),
    extractable: flag(pkcs11js.CKA_EXTRACTABLE),
    sign: flag(pkcs11js.CKA_SIGN),
    verify: flag(pkcs11js.CKA_VERIFY),
  };
}

function invalid(keyLabel: string, reason: string): StrongroomError {
  return new StrongroomError(
    'SR_AUDIT_KEY_INVALID',
    `the audit checkpoint key '${keyLabel}' cannot be used: ${reason}. Create a new key with '${AUDIT_KEYGEN_COMMAND} --label <new label>' and set strongroom.audit.keyLabel to it.`,
    { details: { keyLabel, reason } },
  );
}

/** Keeps a connection loss recognisable (its CKR stays the cause) so that the operation is retried. */
function wrapFailure(functionName: string, error: unknown): Error {
  return error instanceof StrongroomError ? error : unexpectedPkcs11Failure(functionName, error);
}
