/**
 * The check behind WrapManyOptions.reopen: a new wrapping counts only once the same key has opened
 * it again to the DEK that was wrapped.
 */
import { timingSafeEqual } from 'node:crypto';
import { StrongroomError } from '../errors.js';

const ADVICE = 'Check the HSM or the key file before wrapping DEKs with it again.';

/**
 * Compares the DEK that a new wrapping opened to with the DEK that was wrapped, and zeroes the
 * opened copy. Throws SR_DEK_MIGRATION_VERIFY_FAILED when they differ.
 */
export function checkReopened(dek: Buffer, opened: Buffer): void {
  try {
    if (opened.length !== dek.length || !timingSafeEqual(opened, dek)) {
      throw new StrongroomError(
        'SR_DEK_MIGRATION_VERIFY_FAILED',
        `the key opened a new wrapping to other bytes than the DEK it wrapped, so the wrapping was discarded. ${ADVICE}`,
      );
    }
  } finally {
    opened.fill(0);
  }
}

/** Returns the error of a new wrapping that the same key failed to open again, for `reason`. */
export function reopenFailed(reason: string): StrongroomError {
  return new StrongroomError(
    'SR_DEK_MIGRATION_VERIFY_FAILED',
    `the key could not open a new wrapping again (${reason}), so the wrapping was discarded. ${ADVICE}`,
    { details: { reason } },
  );
}
