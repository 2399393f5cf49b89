import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import type { WrapMechanism } from '../types.js';
import type { HsmLog } from './hsm-log.js';
import { readKeyCheckValue, type KeyCheckValue } from './key-check-value.js';
import { checkMasterKey } from './master-key-check.js';
import { findMasterKey, readMasterKeyAttributes } from './master-key.js';
import { chooseWrap, type KeyWrapMode } from './mechanisms.js';
import { callPkcs11, describeFailure, hasCkr } from './pkcs11-failures.js';
import { initializeModule } from './pkcs11-module.js';
import {
  describeSlot,
  listSlots,
  selectSlot,
  type SlotEntry,
  type SlotSelector,
} from './slot-selection.js';

/** Settings of the worker's connection to the master key. The PIN stays in the worker's memory. */
export interface ConnectionSettings {
  library: string;
  slot: SlotSelector;
  keyLabel: string;
  pin: string;
  poolSize: number;
  /**
   * Whether a reconnection may finalise and initialise the module again (default true). False
   * when another provider in the process uses the module: PKCS#11 leaves C_Finalize undefined
   * while other threads make calls.
   */
  finalizeOnReconnect?: boolean;
  /** strongroom.hsm.keyWrap: whether key wrap may be computed over CKM_AES_ECB (default `token`). */
  keyWrap?: KeyWrapMode;
}

/** A working connection: the token's slot, open sessions (the first one logged in) and the master key. */
export interface EstablishedConnection {
  slot: SlotEntry;
  tokenLabel: string;
  /** "slot ID 2108715772 (slot index 0), token 'pam'", for messages. */
  slotName: string;
  offered: number[];
  mechanism: WrapMechanism;
  /** `ecb-rfc3394` when Strongroom computes 'aes-key-wrap' over CKM_AES_ECB on this token. */
  keyWrap: KeyWrapMode;
  masterKey: Buffer;
  keyCheckValue: KeyCheckValue;
  sessions: Buffer[];
  /**
   * Element 0 is set to 1 when the connection is dropped, over a SharedArrayBuffer so that batch
   * threads can read it between items and stop early.
   */
  abandoned: Int32Array;
}

/** Logs the user in on the given session; supplied by the connection so that it can stop after a rejected PIN. */
export type LoginStep = (session: Buffer, token: { label: string; flags: number }) => void;

/**
 * Initialises the module, selects the slot, opens `poolSize` sessions, logs in once on the first
 * one, then finds and checks the master key and reads its check value. On failure the sessions
 * opened here are closed again.
 */
export function establishConnection(
  pkcs11: PKCS11,
  settings: ConnectionSettings,
  login: LoginStep,
  log: HsmLog,
): EstablishedConnection {
  initializeModule(pkcs11, settings.library, log);

  const slot = selectSlot(listSlots(pkcs11), settings.slot);
  const tokenLabel = slot.token?.label ?? '';
  const slotName = `${describeSlot(slot)}, token '${tokenLabel}'`;
  const offered = callPkcs11('C_GetMechanismList', () => pkcs11.C_GetMechanismList(slot.handle));
  const { mechanism, keyWrap } = chooseWrap(offered, slotName, settings.keyWrap ?? 'token');

  const sessions: Buffer[] = [];
  try {
    for (let count = 0; count < settings.poolSize; count++) {
      sessions.push(
        callPkcs11('C_OpenSession', () =>
          pkcs11.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION),
        ),
      );
    }
    const [first] = sessions;
    if (first === undefined) {
      throw new RangeError(`poolSize must be at least 1, got ${settings.poolSize}`);
    }

    login(first, { label: tokenLabel, flags: slot.token?.flags ?? 0 });

    const masterKey = findMasterKey(pkcs11, first, settings.keyLabel);
    const attributes = readMasterKeyAttributes(pkcs11, first, masterKey);
    checkMasterKey(settings.keyLabel, attributes, mechanism, keyWrap);
    const keyCheckValue = readKeyCheckValue(pkcs11, first, masterKey, offered, attributes, log);

    return {
      slot,
      tokenLabel,
      slotName,
      offered,
      mechanism,
      keyWrap,
      masterKey,
      keyCheckValue,
      sessions,
      abandoned: new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)),
    };
  } catch (error) {
    closeSessions(pkcs11, sessions, log);
    throw error;
  }
}

/** Closes sessions, logging failures: a session of a lost connection cannot be closed and needs no closing. */
export function closeSessions(pkcs11: PKCS11, sessions: readonly Buffer[], log: HsmLog): void {
  for (const session of sessions) {
    try {
      pkcs11.C_CloseSession(session);
    } catch (error) {
      log.debug('C_CloseSession failed', { ckr: describeFailure(error) });
    }
  }
}

/** Logs the user out of the token, logging a failure other than CKR_USER_NOT_LOGGED_IN. */
export function logoutQuietly(pkcs11: PKCS11, session: Buffer, log: HsmLog): void {
  try {
    pkcs11.C_Logout(session);
  } catch (error) {
    if (!hasCkr(error, pkcs11js.CKR_USER_NOT_LOGGED_IN)) {
      log.warn('C_Logout failed', { ckr: describeFailure(error) });
    }
  }
}
