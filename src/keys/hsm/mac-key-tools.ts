import { randomBytes } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import { isStrongroomError, StrongroomError } from '../../errors.js';
import type { MacAlgorithm } from '../mac-key.js';
import type { HsmLog } from './hsm-log.js';
import { findMacKey, generateMacKey, signWithMacKey, verifyWithMacKey } from './mac-key.js';
import type { SerializedError } from './protocol.js';
import { findObjects } from './token-objects.js';
import {
  withLogin,
  type LoggedIn,
  type TokenAccess,
  type TokenSummary,
} from './token-inspection.js';

/** Result of `hsm keygen --audit`: where the key is, its CKA_ID in hex and its MAC algorithm. */
export interface GeneratedMacKey extends TokenSummary {
  id: string;
  algorithm: MacAlgorithm;
}

/** The outcome of checking the audit checkpoint key. */
export type MacKeyInspection =
  { usable: true; algorithm: MacAlgorithm } | { usable: false; error: SerializedError };

/** Data that the checks MAC and verify; it proves the key works, not what it protects. */
const PROBE = Buffer.from('strongroom audit key probe', 'ascii');

/** Logs in and checks the audit key: found once, the right type and attributes, and it MACs. */
export function inspectMacKey(
  access: TokenAccess,
  keyLabel: string,
  log: HsmLog,
): MacKeyInspection {
  return withLogin(access, log, (token): MacKeyInspection => {
    try {
      return { usable: true, algorithm: probeMacKey(token, keyLabel) };
    } catch (error) {
      if (!isStrongroomError(error)) {
        throw error;
      }
      return {
        usable: false,
        error: { code: error.code, message: error.message, details: error.details },
      };
    }
  });
}

/**
 * Generates the audit checkpoint key (see generateMacKey) with a random 16-byte CKA_ID after
 * rejecting a label that any object on the token has, then checks it as the service would.
 */
export function generateAuditKey(
  access: TokenAccess,
  keyLabel: string,
  log: HsmLog,
): GeneratedMacKey {
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
    generateMacKey(pkcs11, session, keyLabel, id);
    log.info('generated the audit checkpoint key', { keyLabel, tokenLabel: token.tokenLabel });
    const algorithm = probeMacKey(token, keyLabel);
    return {
      slotId: token.slotId,
      slotIndex: token.slotIndex,
      tokenLabel: token.tokenLabel,
      id: id.toString('hex'),
      algorithm,
    };
  });
}

function probeMacKey(token: LoggedIn, keyLabel: string): MacAlgorithm {
  const key = findMacKey(token.pkcs11, token.session, keyLabel);
  const mac = signWithMacKey(token.pkcs11, token.session, key, PROBE);
  if (!verifyWithMacKey(token.pkcs11, token.session, key, PROBE, mac)) {
    throw new StrongroomError(
      'SR_AUDIT_KEY_INVALID',
      `the audit checkpoint key '${keyLabel}' does not verify its own MAC. Check the token, or create a new key with 'strongroom hsm keygen --audit --label <new label>'.`,
      { details: { keyLabel } },
    );
  }
  return key.algorithm;
}
