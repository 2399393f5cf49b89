import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';
import type { HsmLog } from './hsm-log.js';
import { readKeyCheckValue } from './key-check-value.js';
import { loginUser } from './login.js';
import { checkMasterKey } from './master-key-check.js';
import { findMasterKey, readMasterKeyAttributes } from './master-key.js';
import { chooseWrap, type KeyWrapMode } from './mechanisms.js';
import { callPkcs11 } from './pkcs11-failures.js';
import { finalizeModule, initializeModule, loadModule } from './pkcs11-module.js';
import type { SerializedError } from './protocol.js';
import { describeSlot, listSlots, selectSlot, type SlotSelector } from './slot-selection.js';
import { closeSessions, logoutQuietly } from './token-setup.js';
import { findObjects, listTokenObjects, type TokenObject } from './token-objects.js';

/** Login settings of the token tools: the module, the slot and the user PIN. */
export interface TokenAccess {
  library: string;
  slot: SlotSelector;
  pin: string;
  /** strongroom.hsm.keyWrap, so that the key is checked as the service would use it (default `token`). */
  keyWrap?: KeyWrapMode;
}

/** The slot and token that a tool logged in to. */
export interface TokenSummary {
  slotId: number;
  slotIndex: number;
  tokenLabel: string;
}

/** Result of `hsm verify`: the token's objects and the outcome of the service's master key checks. */
export interface TokenInspection extends TokenSummary {
  objects: TokenObject[];
  masterKey: UsableMasterKey | { usable: false; error: SerializedError };
}

/** A master key that passed the checks: the mechanism for new DEKs, who computes it, and the KCV. */
export interface UsableMasterKey {
  usable: true;
  mechanism: WrapMechanism;
  keyWrap: KeyWrapMode;
  kcv: string;
}

/** Result of `hsm keygen`: where the key is, its CKA_ID in hex and its check value. */
export interface GeneratedKey extends TokenSummary {
  id: string;
  mechanism: WrapMechanism;
  kcv: string;
}

/** A logged-in session of a token tool. */
export interface LoggedIn extends TokenSummary {
  pkcs11: PKCS11;
  session: Buffer;
  offered: number[];
  slotName: string;
}

/**
 * Logs in, lists the objects and runs the checks of the service's start-up on the key labelled
 * `keyLabel`: one match, AES-256, sensitive, not extractable, usage for the chosen mechanism, and a
 * readable check value. A failed key check is part of the result. Failures before the listing,
 * such as a rejected PIN, are thrown.
 */
export function inspectToken(access: TokenAccess, keyLabel: string, log: HsmLog): TokenInspection {
  return withLogin(access, log, (token) => {
    const objects = listTokenObjects(token.pkcs11, token.session);
    const summary = {
      slotId: token.slotId,
      slotIndex: token.slotIndex,
      tokenLabel: token.tokenLabel,
    };
    try {
      const masterKey = checkConfiguredKey(token, keyLabel, access.keyWrap ?? 'token', log);
      return { ...summary, objects, masterKey };
    } catch (error) {
      if (!isStrongroomError(error)) {
        throw error;
      }
      const serialized = { code: error.code, message: error.message, details: error.details };
      return { ...summary, objects, masterKey: { usable: false, error: serialized } };
    }
  });
}

/**
 * Generates the AES-256 master key on the token with C_GenerateKey (CKM_AES_KEY_GEN): a token
 * object that is private and sensitive, never extractable, allowed to encrypt, decrypt, wrap and
 * unwrap, with a random 16-byte CKA_ID. Rejects a label that any object on the token has already,
 * then checks the new key as the service would.
 */
export function generateMasterKey(
  access: TokenAccess,
  keyLabel: string,
  log: HsmLog,
): GeneratedKey {
  return withLogin(access, log, (token) => {
    const { pkcs11, session } = token;
    const existing = findObjects(pkcs11, session, [{ type: pkcs11js.CKA_LABEL, value: keyLabel }]);
    if (existing.length > 0) {
      throw new StrongroomError(
        'SR_HSM_KEY_LABEL_IN_USE',
        `${existing.length} object(s) on the token '${token.tokenLabel}' are labelled '${keyLabel}' already. ` +
          `Choose another --label, or run strongroom hsm verify to inspect the existing key.`,
        { details: { keyLabel, count: existing.length } },
      );
    }

    const id = randomBytes(16);
    const template: pkcs11js.Template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_LABEL, value: keyLabel },
      { type: pkcs11js.CKA_ID, value: id },
    ];
    callPkcs11('C_GenerateKey', () =>
      pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template),
    );
    log.info('generated the master key', { keyLabel, tokenLabel: token.tokenLabel });

    const checked = checkConfiguredKey(token, keyLabel, access.keyWrap ?? 'token', log);
    return {
      slotId: token.slotId,
      slotIndex: token.slotIndex,
      tokenLabel: token.tokenLabel,
      id: id.toString('hex'),
      mechanism: checked.mechanism,
      kcv: checked.kcv,
    };
  });
}

/** Runs the checks of the service's connection: finds one key, checks it and reads its check value. */
function checkConfiguredKey(
  token: LoggedIn,
  keyLabel: string,
  keyWrapSetting: KeyWrapMode,
  log: HsmLog,
): UsableMasterKey {
  const { mechanism, keyWrap } = chooseWrap(token.offered, token.slotName, keyWrapSetting);
  const key = findMasterKey(token.pkcs11, token.session, keyLabel);
  const attributes = readMasterKeyAttributes(token.pkcs11, token.session, key);
  checkMasterKey(keyLabel, attributes, mechanism, keyWrap);
  const { kcv } = readKeyCheckValue(
    token.pkcs11,
    token.session,
    key,
    token.offered,
    attributes,
    log,
  );
  return { usable: true, mechanism, keyWrap, kcv };
}

/**
 * Loads and initialises the module, opens one read-write session on the selected slot, logs in
 * once, runs `body`, then logs out, closes the session and finalises the module. The worker that
 * runs this serves one command, so nothing else in the process shares the login.
 */
export function withLogin<R>(access: TokenAccess, log: HsmLog, body: (token: LoggedIn) => R): R {
  const pkcs11 = loadModule(access.library);
  try {
    initializeModule(pkcs11, access.library, log);
    const slot = selectSlot(listSlots(pkcs11), access.slot);
    const tokenLabel = slot.token?.label ?? '';
    const offered = callPkcs11('C_GetMechanismList', () => pkcs11.C_GetMechanismList(slot.handle));
    const session = callPkcs11('C_OpenSession', () =>
      pkcs11.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION),
    );

    try {
      loginUser(
        pkcs11,
        session,
        access.pin,
        { label: tokenLabel, flags: slot.token?.flags ?? 0 },
        log,
      );
      return body({
        pkcs11,
        session,
        offered,
        slotId: slot.id,
        slotIndex: slot.index,
        tokenLabel,
        slotName: `${describeSlot(slot)}, token '${tokenLabel}'`,
      });
    } finally {
      logoutQuietly(pkcs11, session, log);
      closeSessions(pkcs11, [session], log);
    }
  } finally {
    finalizeModule(pkcs11, access.library, log);
    pkcs11.close();
  }
}
