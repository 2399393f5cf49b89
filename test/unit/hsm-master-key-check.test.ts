import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { isStrongroomError } from '../../src/errors.js';
import type { MasterKeyAttributes } from '../../src/keys/hsm/master-key.js';
import { checkMasterKey } from '../../src/keys/hsm/master-key-check.js';
import type { WrapMechanism } from '../../src/keys/types.js';

const goodKey: MasterKeyAttributes = {
  keyType: pkcs11js.CKK_AES,
  valueLength: 32,
  sensitive: true,
  extractable: false,
  encrypt: true,
  decrypt: true,
  wrap: true,
  unwrap: true,
};

const refusals: Array<{
  name: string;
  key: Partial<MasterKeyAttributes>;
  mechanism: WrapMechanism;
  code: string;
  message: string;
}> = [
  {
    name: 'a generic secret',
    key: { keyType: pkcs11js.CKK_GENERIC_SECRET },
    mechanism: 'aes-256-gcm',
    code: 'SR_HSM_KEY_WRONG_TYPE',
    message: "key 'x' is a CKK_GENERIC_SECRET key, expected CKK_AES",
  },
  {
    name: 'AES-128',
    key: { valueLength: 16 },
    mechanism: 'aes-256-gcm',
    code: 'SR_HSM_KEY_WRONG_LENGTH',
    message: "key 'x' is AES-128, expected AES-256",
  },
  {
    name: 'AES-192',
    key: { valueLength: 24 },
    mechanism: 'aes-key-wrap',
    code: 'SR_HSM_KEY_WRONG_LENGTH',
    message: "key 'x' is AES-192, expected AES-256",
  },
  {
    name: 'a key that is not sensitive',
    key: { sensitive: false },
    mechanism: 'aes-256-gcm',
    code: 'SR_HSM_KEY_NOT_SENSITIVE',
    message: "key 'x' is not sensitive (CKA_SENSITIVE is false)",
  },
  {
    name: 'an extractable key',
    key: { extractable: true },
    mechanism: 'aes-256-gcm',
    code: 'SR_HSM_KEY_EXTRACTABLE',
    message: "key 'x' is extractable (CKA_EXTRACTABLE is true)",
  },
  {
    name: 'a key without decrypt for GCM',
    key: { decrypt: false },
    mechanism: 'aes-256-gcm',
    code: 'SR_HSM_KEY_USAGE_MISSING',
    message: "key 'x' does not allow CKA_DECRYPT, which aes-256-gcm needs",
  },
  {
    name: 'a key without wrap and unwrap for key wrap',
    key: { wrap: false, unwrap: false },
    mechanism: 'aes-key-wrap-pad',
    code: 'SR_HSM_KEY_USAGE_MISSING',
    message: "key 'x' does not allow CKA_WRAP and CKA_UNWRAP, which aes-key-wrap-pad needs",
  },
];

describe('checkMasterKey', () => {
  it('accepts a sensitive, non-extractable AES-256 key', () => {
    for (const mechanism of ['aes-256-gcm', 'aes-key-wrap', 'aes-key-wrap-pad'] as const) {
      expect(() => checkMasterKey('x', goodKey, mechanism)).not.toThrow();
    }
  });

  it('accepts a key wrap key without encrypt', () => {
    expect(() =>
      checkMasterKey('x', { ...goodKey, encrypt: false, decrypt: false }, 'aes-key-wrap'),
    ).not.toThrow();
  });

  for (const refusal of refusals) {
    it(`rejects ${refusal.name}`, () => {
      let caught: unknown;
      try {
        checkMasterKey('x', { ...goodKey, ...refusal.key }, refusal.mechanism);
      } catch (error) {
        caught = error;
      }

      expect(isStrongroomError(caught)).toBe(true);
      expect((caught as { code: string }).code).toBe(refusal.code);
      expect((caught as Error).message).toContain(refusal.message);
    });
  }
});

describe('checkMasterKey for key wrap over ECB', () => {
  it('accepts a key without wrap and unwrap', () => {
    expect(() =>
      checkMasterKey(
        'x',
        { ...goodKey, wrap: false, unwrap: false },
        'aes-key-wrap',
        'ecb-rfc3394',
      ),
    ).not.toThrow();
  });

  it('rejects a key without encrypt and decrypt', () => {
    let caught: unknown;
    try {
      checkMasterKey(
        'x',
        { ...goodKey, encrypt: false, decrypt: false },
        'aes-key-wrap',
        'ecb-rfc3394',
      );
    } catch (error) {
      caught = error;
    }

    expect(isStrongroomError(caught)).toBe(true);
    expect((caught as { code: string }).code).toBe('SR_HSM_KEY_USAGE_MISSING');
    expect((caught as Error).message).toContain(
      "key 'x' does not allow CKA_ENCRYPT and CKA_DECRYPT, which aes-key-wrap computed over CKM_AES_ECB needs",
    );
    expect((caught as Error).message).toContain('--usage-decrypt');
  });
});
