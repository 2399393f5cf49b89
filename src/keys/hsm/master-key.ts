import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import { callPkcs11 } from './pkcs11-failures.js';

/** At most this many matches are fetched: enough to count a duplicate label, bounded for a huge token. */
const MAX_MATCHES = 16;

/** The attributes of the master key that decide whether Strongroom may use it. */
export interface MasterKeyAttributes {
  keyType: number;
  /** CKA_VALUE_LEN in bytes. */
  valueLength: number;
  sensitive: boolean;
  extractable: boolean;
  encrypt: boolean;
  decrypt: boolean;
  wrap: boolean;
  unwrap: boolean;
}

/**
 * Finds the one secret key with the label. The template holds only CKA_CLASS and CKA_LABEL,
 * because some HSMs reject searches on other attributes. None or several matches are errors:
 * taking the first of several keys could wrap DEKs under a key the administrator did not mean.
 */
export function findMasterKey(pkcs11: PKCS11, session: Buffer, label: string): Buffer {
  const matches = findSecretKeys(pkcs11, session, label);
  const [key] = matches;

  if (matches.length > 1) {
    throw new StrongroomError(
      'SR_HSM_KEY_AMBIGUOUS',
      `${matches.length} secret keys are labelled '${label}'. Give the other keys different labels or delete them ` +
        `(pkcs11-tool --list-objects --login shows them), so that exactly one key has this label.`,
      { details: { keyLabel: label, count: matches.length } },
    );
  }

  if (key !== undefined) {
    return key;
  }

  const trimmed = label.trim();
  if (trimmed !== label) {
    const trimmedFound = trimmed !== '' && findSecretKeys(pkcs11, session, trimmed).length > 0;
    throw new StrongroomError(
      'SR_HSM_KEY_ALIAS_BLANK',
      `no secret key is labelled '${label}', and the label starts or ends with a blank, which is the likely mistake` +
        `${trimmedFound ? ` (a key labelled '${trimmed}' exists)` : ''}. Remove the blanks from hsm.keystore.alias.`,
      { details: { keyLabel: label } },
    );
  }

  throw new StrongroomError(
    'SR_HSM_KEY_NOT_FOUND',
    `no secret key is labelled '${label}' on the token. Set hsm.keystore.alias to the label that ` +
      `'strongroom hsm verify' lists for the AES-256 master key, or generate the key with ` +
      `'strongroom hsm keygen --label ${label}'.`,
    { details: { keyLabel: label } },
  );
}

function findSecretKeys(pkcs11: PKCS11, session: Buffer, label: string): Buffer[] {
  const template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  callPkcs11('C_FindObjectsInit', () => pkcs11.C_FindObjectsInit(session, template));

  let found: Buffer[];
  try {
    found = callPkcs11('C_FindObjects', () => pkcs11.C_FindObjects(session, MAX_MATCHES));
  } catch (error) {
    // Ends the search so that the session stays usable. The C_FindObjects failure is reported.
    try {
      pkcs11.C_FindObjectsFinal(session);
    } catch {
      // The session may be gone, which the error above reports already.
    }
    throw error;
  }

  callPkcs11('C_FindObjectsFinal', () => pkcs11.C_FindObjectsFinal(session));
  return found;
}

/** Reads the attributes that checkMasterKey() judges. */
export function readMasterKeyAttributes(
  pkcs11: PKCS11,
  session: Buffer,
  key: Buffer,
): MasterKeyAttributes {
  const types = [
    pkcs11js.CKA_KEY_TYPE,
    pkcs11js.CKA_VALUE_LEN,
    pkcs11js.CKA_SENSITIVE,
    pkcs11js.CKA_EXTRACTABLE,
    pkcs11js.CKA_ENCRYPT,
    pkcs11js.CKA_DECRYPT,
    pkcs11js.CKA_WRAP,
    pkcs11js.CKA_UNWRAP,
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

  return {
    keyType: readUlong(value(pkcs11js.CKA_KEY_TYPE)),
    valueLength: readUlong(value(pkcs11js.CKA_VALUE_LEN)),
    sensitive: readBool(value(pkcs11js.CKA_SENSITIVE)),
    extractable: readBool(value(pkcs11js.CKA_EXTRACTABLE)),
    encrypt: readBool(value(pkcs11js.CKA_ENCRYPT)),
    decrypt: readBool(value(pkcs11js.CKA_DECRYPT)),
    wrap: readBool(value(pkcs11js.CKA_WRAP)),
    unwrap: readBool(value(pkcs11js.CKA_UNWRAP)),
  };
}

/** Decodes a CK_ULONG attribute value, which pkcs11js returns in native byte order. */
export function readUlong(value: Buffer): number {
  if (value.length >= 8) {
    return Number(value.readBigUInt64LE(0));
  }
  return value.length >= 4 ? value.readUInt32LE(0) : 0;
}

function readBool(value: Buffer): boolean {
  return value.length > 0 && value[0] !== 0;
}
