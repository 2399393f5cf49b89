import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import {
  assertValidSecret,
  findSecretProblem,
  SECRET_MAX_LENGTH,
} from '../../src/vault/secret-types.js';
import { findSshPrivateKeyProblem } from '../../src/vault/ssh-private-key.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'ssh-keys');
const readFixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

const VALID_KEYS = [
  'openssh-ed25519',
  'openssh-rsa',
  'openssh-ecdsa-encrypted',
  'pem-rsa-pkcs1',
  'pem-ed25519-pkcs8',
  'pem-ec-encrypted-pkcs8',
];

describe('SSH private key check', () => {
  it.each(VALID_KEYS)('accepts %s', (name) => {
    expect(findSshPrivateKeyProblem(readFixture(name))).toBeUndefined();
  });

  it('accepts CRLF line ends', () => {
    const key = readFixture('openssh-ed25519').replace(/\n/g, '\r\n');

    expect(findSshPrivateKeyProblem(key)).toBeUndefined();
  });

  it('rejects a public key', () => {
    expect(findSshPrivateKeyProblem(readFixture('public-key.pub'))).toMatch(/not a PEM or OpenSSH/);
  });

  it('rejects a PEM public key', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n';

    expect(findSshPrivateKeyProblem(pem)).toBe(
      'a PEM block of type "PUBLIC KEY" is not a private key',
    );
  });

  it('rejects a truncated OpenSSH key', () => {
    const key = readFixture('openssh-ed25519');
    const lines = key.trim().split('\n');
    const truncated = [...lines.slice(0, 3), lines.at(-1)].join('\n');

    expect(findSshPrivateKeyProblem(truncated)).toBe('the OpenSSH key is truncated or malformed');
  });

  it('rejects an OpenSSH key with wrong magic', () => {
    const key = readFixture('openssh-ed25519').replace('b3BlbnNzaC1rZXkt', 'b3BlbnNzaC1rZXku');

    expect(findSshPrivateKeyProblem(key)).toBe(
      'the OpenSSH key does not start with "openssh-key-v1"',
    );
  });

  it('rejects a corrupted PEM body', () => {
    const key = readFixture('pem-rsa-pkcs1').replace(
      /\n[A-Za-z0-9+/]{20}/,
      '\nAAAAAAAAAAAAAAAAAAAA',
    );

    expect(findSshPrivateKeyProblem(key)).toBe('node:crypto could not parse the PEM private key');
  });

  it('rejects mismatched BEGIN and END', () => {
    const key = readFixture('pem-ed25519-pkcs8').replace('END PRIVATE KEY', 'END RSA PRIVATE KEY');

    expect(findSshPrivateKeyProblem(key)).toMatch(/name different types/);
  });

  it('rejects two keys in one secret', () => {
    const key = readFixture('openssh-ed25519') + readFixture('openssh-rsa');

    expect(findSshPrivateKeyProblem(key)).toBeDefined();
  });
});

describe('secret validation', () => {
  it('accepts any non-empty password', () => {
    expect(findSecretProblem('password', 'correct horse battery staple')).toBeUndefined();
  });

  it('rejects an unknown type', () => {
    expect(findSecretProblem('certificate', 'x')).toBe(
      "the secret type 'certificate' is unknown; use one of password, ssh-private-key",
    );
  });

  it('rejects an over-long secret', () => {
    expect(findSecretProblem('password', 'x'.repeat(SECRET_MAX_LENGTH + 1))).toMatch(
      /more than the maximum 16384/,
    );
  });

  it('error never contains the secret', () => {
    const secret = 'not-a-key-but-a-password-Zq81!';

    const error = captureError(() => assertValidSecret('ssh-private-key', secret));

    expect(isStrongroomError(error, 'SR_SECRET_INVALID')).toBe(true);
    expect((error as StrongroomError).message).not.toContain(secret);
    expect(JSON.stringify((error as StrongroomError).details)).not.toContain(secret);
  });

  it('error names the problem and the fix', () => {
    const error = captureError(() => assertValidSecret('ssh-private-key', 'hunter2'));

    expect((error as StrongroomError).message).toMatch(
      /^The secret was rejected: it is not a PEM or OpenSSH private key/,
    );
    expect((error as StrongroomError).message).toMatch(/secret type ssh-private-key\.$/);
  });
});

function captureError(action: () => void): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}
