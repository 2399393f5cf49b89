import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { isStrongroomError, StrongroomError } from '../../src/errors.js';
import type { HsmLog, LogFields } from '../../src/keys/hsm/hsm-log.js';
import { loginUser, PinGuard, type LoginApi } from '../../src/keys/hsm/login.js';

// SoftHSM never locks a PIN, so a locked PIN and the PIN counters can only be met through this
// double of C_Login. It throws errors shaped like pkcs11js's: the CKR name as message, the value as code.
const PIN = 'unit-test-pin-8080';
const token = { label: 'pam', flags: 0 };

function ckrError(name: keyof typeof pkcs11js): Error {
  return Object.assign(new Error(String(name)), { code: pkcs11js[name] as number });
}

function loginDouble(failure?: Error): LoginApi & { calls: number } {
  const api = {
    calls: 0,
    C_Login(): void {
      api.calls += 1;
      if (failure !== undefined) {
        throw failure;
      }
    },
  };
  return api;
}

function recordingLog(): HsmLog & {
  lines: Array<{ level: string; message: string; fields: LogFields }>;
} {
  const lines: Array<{ level: string; message: string; fields: LogFields }> = [];
  const write =
    (level: string) =>
    (message: string, fields: LogFields = {}) =>
      lines.push({ level, message, fields });
  return {
    lines,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
}

function loginError(api: LoginApi, pin = PIN, flags = 0): StrongroomError {
  try {
    loginUser(api, Buffer.alloc(8), pin, { ...token, flags }, recordingLog());
  } catch (error) {
    if (isStrongroomError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error('loginUser() succeeded, but an error was expected');
}

describe('loginUser', () => {
  it('logs in once', () => {
    const api = loginDouble();

    loginUser(api, Buffer.alloc(8), PIN, token, recordingLog());

    expect(api.calls).toBe(1);
  });

  it('accepts CKR_USER_ALREADY_LOGGED_IN', () => {
    const api = loginDouble(ckrError('CKR_USER_ALREADY_LOGGED_IN'));

    expect(() => loginUser(api, Buffer.alloc(8), PIN, token, recordingLog())).not.toThrow();
    expect(api.calls).toBe(1);
  });

  it('stops at CKR_PIN_INCORRECT after one call', () => {
    const api = loginDouble(ckrError('CKR_PIN_INCORRECT'));

    const error = loginError(api);

    expect(api.calls).toBe(1);
    expect(error.code).toBe('SR_HSM_PIN_INCORRECT');
    expect(error.message).toContain("the token 'pam' rejected the user PIN (CKR_PIN_INCORRECT)");
    expect(error.message).not.toContain(PIN);
  });

  it('maps CKR_PIN_LOCKED to SR_HSM_PIN_LOCKED', () => {
    const api = loginDouble(ckrError('CKR_PIN_LOCKED'));

    const error = loginError(api);

    expect(error.code).toBe('SR_HSM_PIN_LOCKED');
    expect(error.message).toContain("the token 'pam' has locked the user PIN (CKR_PIN_LOCKED)");
  });

  it('does not call C_Login when the token reports a locked PIN', () => {
    const api = loginDouble();

    const error = loginError(api, PIN, pkcs11js.CKF_USER_PIN_LOCKED);

    expect(api.calls).toBe(0);
    expect(error.code).toBe('SR_HSM_PIN_LOCKED');
  });

  it('warns when one attempt is left', () => {
    const api = loginDouble();
    const log = recordingLog();

    loginUser(api, Buffer.alloc(8), PIN, { ...token, flags: pkcs11js.CKF_USER_PIN_FINAL_TRY }, log);

    expect(log.lines).toContainEqual({
      level: 'warn',
      message: 'the token locks the user PIN after one more wrong attempt',
      fields: { tokenLabel: 'pam' },
    });
  });

  it('rejects an empty PIN without calling C_Login', () => {
    const api = loginDouble();

    const error = loginError(api, '');

    expect(api.calls).toBe(0);
    expect(error.code).toBe('SR_HSM_PIN_MISSING');
  });

  it('names the CKR of other failures', () => {
    const api = loginDouble(ckrError('CKR_DEVICE_ERROR'));

    const error = loginError(api);

    expect(error.code).toBe('SR_HSM_LOGIN_FAILED');
    expect(error.message).toBe("C_Login on the token 'pam' failed with CKR_DEVICE_ERROR.");
  });
});

describe('PinGuard', () => {
  it('never calls C_Login again after a rejected PIN', () => {
    const api = loginDouble(ckrError('CKR_PIN_INCORRECT'));
    const guard = new PinGuard(PIN, recordingLog());

    expect(() => guard.login(api, Buffer.alloc(8), token)).toThrow(/CKR_PIN_INCORRECT/);
    expect(() => guard.login(api, Buffer.alloc(8), token)).toThrow(/CKR_PIN_INCORRECT/);
    expect(api.calls).toBe(1);
  });

  it('logs in again after other failures', () => {
    const api = loginDouble(ckrError('CKR_DEVICE_REMOVED'));
    const guard = new PinGuard(PIN, recordingLog());

    expect(() => guard.login(api, Buffer.alloc(8), token)).toThrow(/CKR_DEVICE_REMOVED/);
    expect(() => guard.login(api, Buffer.alloc(8), token)).toThrow(/CKR_DEVICE_REMOVED/);
    expect(api.calls).toBe(2);
  });
});
