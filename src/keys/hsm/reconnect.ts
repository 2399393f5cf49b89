import { setTimeout as sleep } from 'node:timers/promises';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
import { describeFailure } from './pkcs11-failures.js';
import type { EstablishedConnection } from './token-setup.js';

/** Reconnection attempts after a lost connection, and the delay before the second one (doubled each time). */
const RECONNECT_ATTEMPTS = 5;
const RECONNECT_FIRST_DELAY_MS = 200;

/** Errors after which trying again cannot help, or could lock the PIN. */
const finalErrorCodes = new Set([
  'SR_HSM_PIN_INCORRECT',
  'SR_HSM_PIN_LOCKED',
  'SR_HSM_PIN_MISSING',
  'SR_KEY_PROVIDER_MISMATCH',
]);

/** The steps of one reconnection attempt, supplied by the connection. */
export interface ReconnectSteps {
  /** Drops the sessions of the lost connection, and on later attempts finalises the module too. */
  reset(attempt: number): void | Promise<void>;
  establish(): EstablishedConnection;
  isClosed(): boolean;
}

/**
 * Rebuilds a lost connection with up to RECONNECT_ATTEMPTS attempts and doubling delays between
 * them. Stops at once on an error that retrying cannot fix or that could lock the PIN, and throws
 * SR_HSM_UNAVAILABLE when every attempt failed.
 */
export async function reconnectWithBackoff(steps: ReconnectSteps, log: HsmLog): Promise<void> {
  for (let attempt = 1; attempt <= RECONNECT_ATTEMPTS; attempt++) {
    await steps.reset(attempt);

    try {
      const connection = steps.establish();
      log.info('reconnected to the token', {
        attempt,
        slotId: connection.slot.id,
        tokenLabel: connection.tokenLabel,
      });
      return;
    } catch (error) {
      if (steps.isClosed() || (isStrongroomError(error) && finalErrorCodes.has(error.code))) {
        throw error;
      }
      log.warn('reconnecting to the token failed', {
        attempt,
        maxAttempts: RECONNECT_ATTEMPTS,
        reason: isStrongroomError(error) ? error.message : describeFailure(error),
      });
      if (attempt < RECONNECT_ATTEMPTS) {
        await sleep(RECONNECT_FIRST_DELAY_MS * 2 ** (attempt - 1));
      }
    }
  }

  throw new StrongroomError(
    'SR_HSM_UNAVAILABLE',
    `the token could not be reached again after ${RECONNECT_ATTEMPTS} attempts. Check the HSM and ` +
      'the network path to it. Strongroom tries again on the next request.',
  );
}
