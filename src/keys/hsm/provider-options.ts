import type { Logger } from 'pino';
import { StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
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
