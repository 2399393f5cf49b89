import { isStrongroomError, StrongroomError } from '../../../errors.js';
import type { SlotSelector } from '../slot-selection.js';

/** One PKCS#11 provider file of a failover group: the module and the slot it selects. */
export interface MemberSettings {
  /** Path of the provider file, used to name the member in logs and errors. */
  path: string;
  library: string;
  slot: SlotSelector;
}

/** Errors after which no member is tried, because the same PIN goes to every member. */
const PIN_ERROR_CODES = new Set([
  'SR_HSM_PIN_INCORRECT',
  'SR_HSM_PIN_LOCKED',
  'SR_HSM_PIN_MISSING',
]);

/**
 * Errors that mean a member cannot be reached now: the module, the slot or the token is missing,
 * the connection broke and could not be rebuilt, or the member's worker stopped.
 */
const UNREACHABLE_CODES = new Set([
  'SR_HSM_UNAVAILABLE',
  'SR_HSM_LIBRARY_LOAD_FAILED',
  'SR_HSM_INIT_FAILED',
  'SR_HSM_SLOT_NOT_FOUND',
  'SR_HSM_TOKEN_NOT_FOUND',
  'SR_HSM_TOKEN_NOT_INITIALIZED',
  'SR_HSM_LOGIN_FAILED',
]);

/**
 * The CKR names that pkcs11-failures.ts treats as a lost connection, as the worker reports them in
 * `details.ckr` of SR_HSM_OPERATION_FAILED when an operation failed again after a reconnection.
 */
const CONNECTION_LOST_CKRS = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_USER_NOT_LOGGED_IN',
]);

/** Tells whether an error is a rejected or missing PIN, which no member may be asked again. */
export function isPinError(error: unknown): boolean {
  return isStrongroomError(error) && PIN_ERROR_CODES.has(error.code);
}

/**
 * Tells whether an error from a member means that the member is unreachable, so that the next
 * member may serve. A failure of the data itself (SR_DECRYPT_FAILED) or of the request is not.
 */
export function isMemberUnreachable(error: unknown): boolean {
  if (!isStrongroomError(error)) {
    return false;
  }
  if (UNREACHABLE_CODES.has(error.code)) {
    return true;
  }
  const ckr = error.details['ckr'];
  return (
    error.code === 'SR_HSM_OPERATION_FAILED' &&
    typeof ckr === 'string' &&
    CONNECTION_LOST_CKRS.has(ckr)
  );
}

/** Tells whether a member reports that the key on its token was replaced since it opened. */
export function isKeyReplaced(error: unknown): boolean {
  return isStrongroomError(error, 'SR_KEY_PROVIDER_MISMATCH');
}

/**
 * Replaces the fix in SR_HSM_KEY_NOT_FOUND from a failover member: the single-token advice to
 * generate the key does not fit, because a new key has another key check value, which the group
 * rejects. Other errors are returned as they are.
 */
export function adviseMemberKeyCopy(error: unknown): unknown {
  if (!isStrongroomError(error, 'SR_HSM_KEY_NOT_FOUND')) {
    return error;
  }
  const keyLabel = String(error.details['keyLabel'] ?? '');
  return new StrongroomError(
    'SR_HSM_KEY_NOT_FOUND',
    `no secret key is labelled '${keyLabel}' on the token. Every HSM failover member must hold a copy of the same master key and audit key: restore a backup or clone of a member's token with the tools of the HSM vendor (for SoftHSM, a copy of the token folder with a new serial). A key generated on this member gets another key check value and is rejected with SR_HSM_FAILOVER_KEY_MISMATCH. Otherwise remove the member from strongroom.hsm.failover.configPaths.`,
    { cause: error, details: error.details },
  );
}

/** Names a member in logs and errors: its position, provider file and slot, never the PIN. */
export function describeMember(settings: MemberSettings, index: number): string {
  const role = index === 0 ? 'primary' : `standby ${index}`;
  return `${role} ${settings.path} (${describeSlot(settings.slot)})`;
}

function describeSlot(slot: SlotSelector): string {
  switch (slot.by) {
    case 'id':
      return `slot ID ${slot.id}`;
    case 'index':
      return `slot index ${slot.index}`;
    case 'tokenLabel':
      return `token '${slot.label}'`;
  }
}
