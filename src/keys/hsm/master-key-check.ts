import pkcs11js from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';
import type { MasterKeyAttributes } from './master-key.js';
import { isKeyWrap, type KeyWrapMode } from './mechanisms.js';

const AES_256_KEY_BYTES = 32;

/** The command that makes a master key Strongroom accepts, quoted in the fixes below. */
const KEYGEN_COMMAND =
  'pkcs11-tool --keygen --key-type AES:32 --sensitive --private --usage-decrypt --usage-wrap';

/** CKK value to constant name, for the message about a key of the wrong type. */
const keyTypeNames: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js)
    .filter(
      (entry): entry is [string, number] =>
        entry[0].startsWith('CKK_') && typeof entry[1] === 'number',
    )
    .map(([name, value]) => [value, name]),
);

/**
 * Checks that the master key may wrap DEKs: an AES-256 key (CKK_AES, CKA_VALUE_LEN 32) that never
 * shows its value (CKA_SENSITIVE true) and never leaves the token (CKA_EXTRACTABLE false), with
 * the usage that `mechanism` needs. Key wrap computed over CKM_AES_ECB (`keyWrap` ecb-rfc3394)
 * needs CKA_ENCRYPT and CKA_DECRYPT instead of CKA_WRAP and CKA_UNWRAP. Each error names the key,
 * what is wrong and how to fix it.
 */
export function checkMasterKey(
  label: string,
  key: MasterKeyAttributes,
  mechanism: WrapMechanism,
  keyWrap: KeyWrapMode = 'token',
): void {
  const details = { keyLabel: label };

  if (key.keyType !== pkcs11js.CKK_AES) {
    const typeName = keyTypeNames.get(key.keyType) ?? `key type 0x${key.keyType.toString(16)}`;
    throw new StrongroomError(
      'SR_HSM_KEY_WRONG_TYPE',
      `key '${label}' is a ${typeName} key, expected CKK_AES. Generate an AES-256 key with this label (${KEYGEN_COMMAND}).`,
      { details },
    );
  }

  if (key.valueLength !== AES_256_KEY_BYTES) {
    throw new StrongroomError(
      'SR_HSM_KEY_WRONG_LENGTH',
      `key '${label}' is AES-${key.valueLength * 8}, expected AES-256. Generate a 32-byte AES key with this label (${KEYGEN_COMMAND}).`,
      { details: { ...details, valueLength: key.valueLength } },
    );
  }

  if (!key.sensitive) {
    throw new StrongroomError(
      'SR_HSM_KEY_NOT_SENSITIVE',
      `key '${label}' is not sensitive (CKA_SENSITIVE is false), so the token reveals its value to anyone logged in. ` +
        `Generate a new key with --sensitive (${KEYGEN_COMMAND}), because the value of this one may already have been read.`,
      { details },
    );
  }

  if (key.extractable) {
    throw new StrongroomError(
      'SR_HSM_KEY_EXTRACTABLE',
      `key '${label}' is extractable (CKA_EXTRACTABLE is true), so it can leave the token wrapped under another key. ` +
        `Generate a new key without --extractable (${KEYGEN_COMMAND}).`,
      { details },
    );
  }

  checkUsage(label, key, mechanism, keyWrap);
}

function checkUsage(
  label: string,
  key: MasterKeyAttributes,
  mechanism: WrapMechanism,
  keyWrap: KeyWrapMode,
): void {
  const usesWrapFunctions = isKeyWrap(mechanism) && keyWrap === 'token';
  const needed: Array<[string, boolean]> = usesWrapFunctions
    ? [
        ['CKA_WRAP', key.wrap],
        ['CKA_UNWRAP', key.unwrap],
      ]
    : [
        ['CKA_ENCRYPT', key.encrypt],
        ['CKA_DECRYPT', key.decrypt],
      ];
  const missing = needed.filter(([, allowed]) => !allowed).map(([name]) => name);
  if (missing.length === 0) {
    return;
  }

  const flag = usesWrapFunctions ? '--usage-wrap' : '--usage-decrypt';
  const user = keyWrap === 'ecb-rfc3394' ? `${mechanism} computed over CKM_AES_ECB` : mechanism;
  throw new StrongroomError(
    'SR_HSM_KEY_USAGE_MISSING',
    `key '${label}' does not allow ${missing.join(' and ')}, which ${user} needs. ` +
      `Set ${missing.join(' and ')} to true on the key, or generate it with ${flag} (${KEYGEN_COMMAND}).`,
    { details: { keyLabel: label, mechanism, missing: missing.join(',') } },
  );
}
