import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { readUlong } from './master-key.js';
import { callPkcs11 } from './pkcs11-failures.js';

/** At most this many objects of one class are listed, so that a huge token cannot stall the tool. */
const MAX_OBJECTS_PER_CLASS = 1000;

/** One object on the token, described as `pkcs11-tool --list-objects` describes it. */
export interface TokenObject {
  /** CKO_* name, for example CKO_SECRET_KEY. */
  class: string;
  /** CKK_* name of a key, undefined for other objects. */
  keyType: string | undefined;
  /** Key length in bits: CKA_VALUE_LEN times 8 for secret keys, CKA_MODULUS_BITS for RSA. */
  bits: number | undefined;
  label: string;
  /** CKA_ID in hex. */
  id: string;
  /** CKA_ENCRYPT, CKA_WRAP and the other usage attributes that are true, in lowercase. */
  usage: string[];
  /** Access attributes that are true: private, sensitive, always sensitive, extractable, never extractable, local, modifiable. */
  access: string[];
}

/** The classes listed, in pkcs11-tool's order. Each search holds only CKA_CLASS, because some HSMs reject other attributes. */
const CLASSES: ReadonlyArray<[number, string]> = [
  [pkcs11js.CKO_CERTIFICATE, 'CKO_CERTIFICATE'],
  [pkcs11js.CKO_PUBLIC_KEY, 'CKO_PUBLIC_KEY'],
  [pkcs11js.CKO_PRIVATE_KEY, 'CKO_PRIVATE_KEY'],
  [pkcs11js.CKO_SECRET_KEY, 'CKO_SECRET_KEY'],
  [pkcs11js.CKO_DATA, 'CKO_DATA'],
];

const USAGE: ReadonlyArray<[number, string]> = [
  [pkcs11js.CKA_ENCRYPT, 'encrypt'],
  [pkcs11js.CKA_DECRYPT, 'decrypt'],
  [pkcs11js.CKA_SIGN, 'sign'],
  [pkcs11js.CKA_VERIFY, 'verify'],
  [pkcs11js.CKA_WRAP, 'wrap'],
  [pkcs11js.CKA_UNWRAP, 'unwrap'],
  [pkcs11js.CKA_DERIVE, 'derive'],
];

const ACCESS: ReadonlyArray<[number, string]> = [
  [pkcs11js.CKA_PRIVATE, 'private'],
  [pkcs11js.CKA_SENSITIVE, 'sensitive'],
  [pkcs11js.CKA_ALWAYS_SENSITIVE, 'always sensitive'],
  [pkcs11js.CKA_EXTRACTABLE, 'extractable'],
  [pkcs11js.CKA_NEVER_EXTRACTABLE, 'never extractable'],
  [pkcs11js.CKA_LOCAL, 'local'],
  [pkcs11js.CKA_MODIFIABLE, 'modifiable'],
];

const keyTypeNames: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js)
    .filter(
      (entry): entry is [string, number] =>
        entry[0].startsWith('CKK_') && typeof entry[1] === 'number',
    )
    .map(([name, value]) => [value, name]),
);

/** Lists the objects that the session can see, class by class, with their attributes. */
export function listTokenObjects(pkcs11: PKCS11, session: Buffer): TokenObject[] {
  const objects: TokenObject[] = [];
  for (const [objectClass, className] of CLASSES) {
    for (const handle of findObjects(pkcs11, session, [
      { type: pkcs11js.CKA_CLASS, value: objectClass },
    ])) {
      objects.push(describeObject(pkcs11, session, handle, className));
    }
  }
  return objects;
}

/** Runs one search and returns at most MAX_OBJECTS_PER_CLASS handles, ending the search on failure too. */
export function findObjects(
  pkcs11: PKCS11,
  session: Buffer,
  template: pkcs11js.Template,
): Buffer[] {
  callPkcs11('C_FindObjectsInit', () => pkcs11.C_FindObjectsInit(session, template));
  try {
    return callPkcs11('C_FindObjects', () => pkcs11.C_FindObjects(session, MAX_OBJECTS_PER_CLASS));
  } finally {
    try {
      pkcs11.C_FindObjectsFinal(session);
    } catch {
      // A session that failed the search may be gone, which the search error reports already.
    }
  }
}

function describeObject(
  pkcs11: PKCS11,
  session: Buffer,
  handle: Buffer,
  className: string,
): TokenObject {
  const read = (type: number): Buffer | undefined => readAttribute(pkcs11, session, handle, type);
  const isTrue = (type: number): boolean => {
    const value = read(type);
    return value !== undefined && value.length > 0 && value[0] !== 0;
  };

  const keyTypeValue = read(pkcs11js.CKA_KEY_TYPE);
  const keyType =
    keyTypeValue === undefined
      ? undefined
      : (keyTypeNames.get(readUlong(keyTypeValue)) ?? `0x${readUlong(keyTypeValue).toString(16)}`);

  return {
    class: className,
    keyType,
    bits: keyBits(read),
    label: read(pkcs11js.CKA_LABEL)?.toString('utf8') ?? '',
    id: read(pkcs11js.CKA_ID)?.toString('hex') ?? '',
    usage: USAGE.filter(([type]) => isTrue(type)).map(([, name]) => name),
    access: ACCESS.filter(([type]) => isTrue(type)).map(([, name]) => name),
  };
}

function keyBits(read: (type: number) => Buffer | undefined): number | undefined {
  const valueLength = read(pkcs11js.CKA_VALUE_LEN);
  if (valueLength !== undefined) {
    return readUlong(valueLength) * 8;
  }
  const modulusBits = read(pkcs11js.CKA_MODULUS_BITS);
  return modulusBits === undefined ? undefined : readUlong(modulusBits);
}

/**
 * Reads one attribute, or returns undefined when the object does not have it or keeps it secret.
 * Attributes are read one at a time because pkcs11js throws for the whole template when one
 * attribute is CKR_ATTRIBUTE_TYPE_INVALID or CKR_ATTRIBUTE_SENSITIVE.
 */
function readAttribute(
  pkcs11: PKCS11,
  session: Buffer,
  handle: Buffer,
  type: number,
): Buffer | undefined {
  try {
    const [attribute] = pkcs11.C_GetAttributeValue(session, handle, [{ type }]);
    return attribute?.value instanceof Buffer ? attribute.value : undefined;
  } catch {
    return undefined;
  }
}
