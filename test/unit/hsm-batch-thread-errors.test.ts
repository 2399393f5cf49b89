import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { isStrongroomError, StrongroomError } from '../../src/errors.js';
import { rebuildItemError, serializeItemError } from '../../src/keys/hsm/batch-thread-protocol.js';
import { KeyBindingError } from '../../src/keys/hsm/key-wrap.js';
import {
  ckrOf,
  ConnectionAbandonedError,
  describeFailure,
  isConnectionLost,
} from '../../src/keys/hsm/pkcs11-failures.js';

/** Sends an error through the form that crosses from a batch thread, with structured cloning. */
function roundTrip(error: unknown): Error {
  return rebuildItemError(structuredClone(serializeItemError(error)));
}

describe('batch thread errors', () => {
  it('keep the CKR and function of a pkcs11js error', () => {
    const original = new pkcs11js.Pkcs11Error(
      `CKR_DEVICE_ERROR:${pkcs11js.CKR_DEVICE_ERROR}`,
      pkcs11js.CKR_DEVICE_ERROR,
      'C_Encrypt',
    );

    const rebuilt = roundTrip(original);

    expect(ckrOf(rebuilt)).toBe(pkcs11js.CKR_DEVICE_ERROR);
    expect(describeFailure(rebuilt)).toBe('CKR_DEVICE_ERROR');
    expect((rebuilt as { method?: string }).method).toBe('C_Encrypt');
    expect(isConnectionLost(rebuilt)).toBe(true);
  });

  it('keep a data failure apart from a lost connection', () => {
    const original = new pkcs11js.Pkcs11Error(
      `CKR_GENERAL_ERROR:${pkcs11js.CKR_GENERAL_ERROR}`,
      pkcs11js.CKR_GENERAL_ERROR,
      'C_Decrypt',
    );

    expect(isConnectionLost(roundTrip(original))).toBe(false);
  });

  it('keep the code and details of a StrongroomError', () => {
    const original = new StrongroomError('SR_HSM_MECHANISM_UNSUPPORTED', 'slot 1 lacks GCM', {
      details: { slot: 1 },
    });

    const rebuilt = roundTrip(original);

    expect(isStrongroomError(rebuilt, 'SR_HSM_MECHANISM_UNSUPPORTED')).toBe(true);
    expect(rebuilt.message).toBe('slot 1 lacks GCM');
    expect((rebuilt as StrongroomError).details).toEqual({ slot: 1 });
  });

  it('count an abandoned chunk as a lost connection', () => {
    const rebuilt = roundTrip(new ConnectionAbandonedError('dropped'));

    expect(rebuilt).toBeInstanceOf(ConnectionAbandonedError);
    expect(isConnectionLost(rebuilt)).toBe(true);
  });

  it('keep the name and message of other errors', () => {
    const rebuilt = roundTrip(new KeyBindingError('binding tag does not match'));

    expect(rebuilt.name).toBe('KeyBindingError');
    expect(rebuilt.message).toBe('binding tag does not match');
    expect(isConnectionLost(rebuilt)).toBe(false);
  });
});
