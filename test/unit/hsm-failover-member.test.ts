import { describe, expect, it } from 'vitest';
import { StrongroomError } from '../../src/errors.js';
import {
  describeMember,
  isKeyReplaced,
  isMemberUnreachable,
  isPinError,
} from '../../src/keys/hsm/failover/member.js';

describe('failover member errors', () => {
  it.each([
    'SR_HSM_UNAVAILABLE',
    'SR_HSM_LIBRARY_LOAD_FAILED',
    'SR_HSM_INIT_FAILED',
    'SR_HSM_SLOT_NOT_FOUND',
    'SR_HSM_TOKEN_NOT_FOUND',
    'SR_HSM_TOKEN_NOT_INITIALIZED',
    'SR_HSM_LOGIN_FAILED',
  ] as const)('treats %s as unreachable', (code) => {
    expect(isMemberUnreachable(new StrongroomError(code, 'x'))).toBe(true);
  });

  it.each([
    'SR_DECRYPT_FAILED',
    'SR_HSM_PIN_INCORRECT',
    'SR_HSM_PIN_LOCKED',
    'SR_HSM_KEY_NOT_FOUND',
    'SR_HSM_MECHANISM_UNSUPPORTED',
    'SR_KEY_PROVIDER_MISMATCH',
  ] as const)('keeps %s on the member', (code) => {
    expect(isMemberUnreachable(new StrongroomError(code, 'x'))).toBe(false);
  });

  it('treats a lost connection after a reconnection as unreachable', () => {
    const lost = new StrongroomError('SR_HSM_OPERATION_FAILED', 'x', {
      details: { ckr: 'CKR_DEVICE_REMOVED' },
    });
    const other = new StrongroomError('SR_HSM_OPERATION_FAILED', 'x', {
      details: { ckr: 'CKR_OBJECT_HANDLE_INVALID' },
    });

    expect(isMemberUnreachable(lost)).toBe(true);
    expect(isMemberUnreachable(other)).toBe(false);
    expect(isMemberUnreachable(new Error('CKR_DEVICE_REMOVED'))).toBe(false);
  });

  it('recognises PIN errors and replaced keys', () => {
    expect(isPinError(new StrongroomError('SR_HSM_PIN_INCORRECT', 'x'))).toBe(true);
    expect(isPinError(new StrongroomError('SR_HSM_PIN_MISSING', 'x'))).toBe(true);
    expect(isPinError(new StrongroomError('SR_HSM_LOGIN_FAILED', 'x'))).toBe(false);
    expect(isKeyReplaced(new StrongroomError('SR_KEY_PROVIDER_MISMATCH', 'x'))).toBe(true);
    expect(isKeyReplaced(new StrongroomError('SR_HSM_UNAVAILABLE', 'x'))).toBe(false);
  });

  it('names members by role, file and slot', () => {
    const library = '/usr/lib/softhsm/libsofthsm2.so';

    expect(describeMember({ path: 'a.conf', library, slot: { by: 'id', id: 7 } }, 0)).toBe(
      'primary a.conf (slot ID 7)',
    );
    expect(describeMember({ path: 'b.conf', library, slot: { by: 'index', index: 1 } }, 1)).toBe(
      'standby 1 b.conf (slot index 1)',
    );
    expect(
      describeMember({ path: 'c.conf', library, slot: { by: 'tokenLabel', label: 'pam' } }, 2),
    ).toBe("standby 2 c.conf (token 'pam')");
  });
});
