import type { Logger } from 'pino';
import type { OpenedToken } from './protocol.js';
import { StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
import type { KeyWrapMode } from './mechanisms.js';
import { warnIfNotPortable } from './portable-text.js';
import type { SlotSelector } from './slot-selection.js';

export const DEFAULT_POOL_SIZE = 4;

/** Settings of the HSM master key provider. */
export interface HsmProviderOptions {
  /** Absolute path of the PKCS#11 module. */
  library: string;
  slot: SlotSelector;
  /** CKA_LABEL of the AES-256 master key (the keystore alias), used exactly as given. */
  keyLabel: string;
  /** User PIN, already resolved by the caller. It goes to the worker thread in memory only. */
  pin: string;
  /** Number of PKCS#11 sessions in the pool, default 4. */
  poolSize?: number;
  /**
   * Whether reconnecting may finalise the module (default true), which a network module needs to
   * reconnect. Set false when another provider in this process uses the same module.
   */
  finalizeOnReconnect?: boolean;
  /**
   * strongroom.hsm.keyWrap, default `token`. With `ecb-rfc3394`, a token that offers neither
   * CKM_AES_GCM nor CKM_AES_KEY_WRAP wraps DEKs with RFC 3394 computed over its CKM_AES_ECB.
   */
  keyWrap?: KeyWrapMode;
  /**
   * strongroom.hsm.batchProcesses: processes that run wrapMany and unwrapMany, each with a module
   * instance and a session of its own (default 0: batch threads in the worker). The DEK migration
   * sets it, because a module such as SoftHSM serialises much of its work within one process.
   */
  batchProcesses?: number;
  logger: Logger;
}

/**
 * Checks the options before the worker starts: a positive integer pool size and a key label that
 * is not empty. Logs a warning for a PIN or label outside printable ASCII, without the value.
 */
export function checkProviderOptions(
  options: HsmProviderOptions,
  poolSize: number,
  log: HsmLog,
): void {
  const { keyLabel, pin, slot } = options;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
  }
  const processes = options.batchProcesses ?? 0;
  if (!Number.isInteger(processes) || processes < 0) {
    throw new RangeError(`batchProcesses must be a whole number, got ${processes}`);
  }
  if (keyLabel === '') {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      'the HSM key label is empty. Set hsm.keystore.alias to the label of the master key.',
    );
  }

  warnIfNotPortable(log, 'the HSM user PIN', pin);
  warnIfNotPortable(log, 'the HSM key label', keyLabel);
  if (slot.by === 'tokenLabel') {
    warnIfNotPortable(log, 'the HSM token label', slot.label);
  }
}

/**
 * Logs, once when the provider opens, that Strongroom computes key wrap over CKM_AES_ECB and why,
 * or that strongroom.hsm.keyWrap = ecb-rfc3394 has no effect because the token wraps by itself.
 */
export function logKeyWrapMode(log: Logger, setting: KeyWrapMode, opened: OpenedToken): void {
  const fields = {
    tokenLabel: opened.tokenLabel,
    slotId: opened.slotId,
    mechanism: opened.mechanism,
  };
  if (opened.keyWrap === 'ecb-rfc3394') {
    log.warn(
      { ...fields, keyWrap: opened.keyWrap },
      "the token offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP, so Strongroom computes RFC 3394 key wrap over the token's CKM_AES_ECB (strongroom.hsm.keyWrap = ecb-rfc3394); the master key stays on the token",
    );
  } else if (setting === 'ecb-rfc3394') {
    log.info(
      fields,
      'strongroom.hsm.keyWrap = ecb-rfc3394 has no effect: the token offers CKM_AES_GCM or CKM_AES_KEY_WRAP and wraps DEKs itself',
    );
  }
}
