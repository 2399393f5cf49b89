import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import {
  callPkcs11,
  ckrName,
  ckrOf,
  describeFailure,
  isConnectionLost,
  unexpectedPkcs11Failure,
} from '../../src/keys/hsm/pkcs11-failures.js';

function ckrError(name: string, code: number): Error {
  return Object.assign(new Error(name), { code });
}

describe('ckrName', () => {
  it('names known CKR values', () => {
    expect(ckrName(0xa0)).toBe('CKR_PIN_INCORRECT');
    expect(ckrName(pkcs11js.CKR_DEVICE_REMOVED)).toBe('CKR_DEVICE_REMOVED');
  });

  it('prints unknown values in hex', () => {
    expect(ckrName(0x8000_1234)).toBe('CKR 0x80001234');
  });
});

describe('ckrOf', () => {
  it('reads the CKR of a pkcs11js error and of its wrapper', () => {
    const raw = ckrError('CKR_SESSION_HANDLE_INVALID', pkcs11js.CKR_SESSION_HANDLE_INVALID);

    expect(ckrOf(raw)).toBe(pkcs11js.CKR_SESSION_HANDLE_INVALID);
    expect(ckrOf(unexpectedPkcs11Failure('C_Encrypt', raw))).toBe(
      pkcs11js.CKR_SESSION_HANDLE_INVALID,
    );
  });

  it('ignores other errors', () => {
    expect(ckrOf(new TypeError('bad argument'))).toBeUndefined();
    expect(ckrOf('CKR_OK')).toBeUndefined();
  });
});

describe('isConnectionLost', () => {
  it('recognises the CKRs after which sessions are gone', () => {
    for (const name of [
      'CKR_DEVICE_REMOVED',
      'CKR_DEVICE_ERROR',
      'CKR_SESSION_HANDLE_INVALID',
      'CKR_CRYPTOKI_NOT_INITIALIZED',
    ] as const) {
      expect(isConnectionLost(ckrError(name, pkcs11js[name]))).toBe(true);
    }
  });

  it('leaves data errors alone', () => {
    expect(isConnectionLost(ckrError('CKR_GENERAL_ERROR', pkcs11js.CKR_GENERAL_ERROR))).toBe(false);
    expect(
      isConnectionLost(ckrError('CKR_ENCRYPTED_DATA_INVALID', pkcs11js.CKR_ENCRYPTED_DATA_INVALID)),
    ).toBe(false);
  });
});

describe('unexpectedPkcs11Failure', () => {
  it('names the function and the CKR', () => {
    const error = unexpectedPkcs11Failure(
      'C_OpenSession',
      ckrError('CKR_SESSION_COUNT', pkcs11js.CKR_SESSION_COUNT),
    );

    expect(error.code).toBe('SR_HSM_OPERATION_FAILED');
    expect(error.message).toBe('C_OpenSession failed with CKR_SESSION_COUNT.');
    expect(error.details).toEqual({ function: 'C_OpenSession', ckr: 'CKR_SESSION_COUNT' });
  });

  it('wraps failures of callPkcs11', () => {
    const call = (): never => {
      throw ckrError('CKR_TOKEN_NOT_PRESENT', pkcs11js.CKR_TOKEN_NOT_PRESENT);
    };

    expect(() => callPkcs11('C_GetTokenInfo', call)).toThrow(
      'C_GetTokenInfo failed with CKR_TOKEN_NOT_PRESENT.',
    );
  });

  it('describes non-PKCS#11 errors by their message', () => {
    expect(describeFailure(new Error('dlopen failed'))).toBe('dlopen failed');
  });
});
