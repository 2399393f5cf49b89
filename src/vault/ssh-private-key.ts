import { createPrivateKey } from 'node:crypto';

/** The armour of the OpenSSH private key format (PROTOCOL.key in the OpenSSH sources). */
const OPENSSH_LABEL = 'OPENSSH PRIVATE KEY';
const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** PEM labels of private keys that node:crypto parses (RFC 7468, RFC 5915, PKCS #1). */
const PEM_PRIVATE_LABELS = new Set([
  'PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  'RSA PRIVATE KEY',
  'EC PRIVATE KEY',
  'DSA PRIVATE KEY',
]);

/**
 * OpenSSL error codes that node:crypto raises for an encrypted key that it parsed but cannot open
 * without a passphrase (Node.js 20 with OpenSSL 3).
 */
const PASSPHRASE_NEEDED = new Set([
  'ERR_MISSING_PASSPHRASE',
  'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED',
]);

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END ([A-Z0-9 ]+)-----$/;

/**
 * Checks that `text` is one SSH private key in the OpenSSH format or in PEM, and returns what is
 * wrong with it, or undefined when it is a key. The result never contains any part of the key.
 * PEM keys are parsed by node:crypto. Node cannot parse the OpenSSH format, so its structure is
 * checked here: the magic, the cipher and KDF names, one public key and the private section, and
 * for an unencrypted key the two check numbers that must match. Encrypted keys of either format are
 * accepted without their passphrase.
 */
export function findSshPrivateKeyProblem(text: string): string | undefined {
  const match = PEM_BLOCK.exec(text.trim());
  if (match === null) {
    return 'it is not a PEM or OpenSSH private key: expected one block from "-----BEGIN ... PRIVATE KEY-----" to "-----END ... PRIVATE KEY-----"';
  }

  const [, label = '', body = '', endLabel = ''] = match;
  if (label !== endLabel) {
    return `its BEGIN line (${label}) and END line (${endLabel}) name different types`;
  }
  if (label === OPENSSH_LABEL) {
    return findOpenSshProblem(body);
  }
  if (!PEM_PRIVATE_LABELS.has(label)) {
    return `a PEM block of type "${label}" is not a private key`;
  }
  return findPemProblem(text.trim(), body);
}

function findPemProblem(pem: string, body: string): string | undefined {
  const encrypted = /^Proc-Type: *4,ENCRYPTED/m.test(body) || pem.includes('ENCRYPTED PRIVATE KEY');
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' });
    return key.type === 'private' ? undefined : 'it is not a private key';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (encrypted && typeof code === 'string' && PASSPHRASE_NEEDED.has(code)) {
      return undefined;
    }
    return 'node:crypto could not parse the PEM private key';
  }
}

function findOpenSshProblem(body: string): string | undefined {
  const base64 = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
    return 'the OpenSSH key body is not base64';
  }

  const reader = new SshReader(Buffer.from(base64, 'base64'));
  try {
    if (!reader.take(OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) {
      return 'the OpenSSH key does not start with "openssh-key-v1"';
    }
    const cipher = reader.string().toString('latin1');
    const kdf = reader.string().toString('latin1');
    reader.string(); // KDF options
    const keyCount = reader.uint32();
    if (keyCount !== 1) {
      return `the OpenSSH key holds ${keyCount} keys, expected 1`;
    }
    reader.string(); // public key
    const privateSection = reader.string();
    if (!reader.atEnd()) {
      return 'the OpenSSH key has bytes after its private section';
    }
    if (cipher === 'none') {
      return kdf === 'none'
        ? checkPlainSection(privateSection)
        : 'the OpenSSH key names a KDF but no cipher';
    }
    return kdf === 'none' ? 'the OpenSSH key names a cipher but no KDF' : undefined;
  } catch {
    return 'the OpenSSH key is truncated or malformed';
  }
}

/** Checks that an unencrypted private section starts with the same 32-bit check number twice. */
function checkPlainSection(section: Buffer): string | undefined {
  const reader = new SshReader(section);
  const first = reader.uint32();
  const second = reader.uint32();
  if (first !== second) {
    return 'the check numbers of the OpenSSH private section differ';
  }
  const keyType = reader.string().toString('latin1');
  return /^[a-z0-9@.-]+$/.test(keyType) ? undefined : 'the OpenSSH key type is malformed';
}

/** Reads the wire encoding of RFC 4251 section 5: uint32 and length-prefixed strings. */
class SshReader {
  #offset = 0;

  constructor(private readonly bytes: Buffer) {}

  take(length: number): Buffer {
    if (this.#offset + length > this.bytes.length) {
      throw new RangeError('read past the end of the key');
    }
    const slice = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return slice;
  }

  uint32(): number {
    return this.take(4).readUInt32BE(0);
  }

  string(): Buffer {
    return this.take(this.uint32());
  }

  atEnd(): boolean {
    return this.#offset === this.bytes.length;
  }
}
