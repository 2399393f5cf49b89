import { isStrongroomError, StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';
import { unwrapWithGcm, wrapWithGcm } from './gcm.js';
import type { HsmLog } from './hsm-log.js';
import { unwrapWithKeyWrap, wrapWithKeyWrap } from './key-wrap.js';
import { requireOffered } from './mechanisms.js';
import { describeFailure, isConnectionLost, unexpectedPkcs11Failure } from './pkcs11-failures.js';
import type { TokenConnection } from './token-connection.js';

/** Wraps a 32-byte DEK under the master key with the connection's mechanism. */
export async function wrapDek(
  connection: TokenConnection,
  dek: Buffer,
  aad: Buffer,
  log: HsmLog,
): Promise<{ mechanism: WrapMechanism; wrapped: Buffer }> {
  try {
    return await connection.run('wrap', async (pkcs11, session, established) => {
      const { mechanism, masterKey } = established;
      const wrapped =
        mechanism === 'aes-256-gcm'
          ? await wrapWithGcm(pkcs11, session, masterKey, dek, aad)
          : await wrapWithKeyWrap(pkcs11, session, masterKey, mechanism, dek, aad, log);
      return { mechanism, wrapped };
    });
  } catch (error) {
    if (isStrongroomError(error)) {
      throw error;
    }
    if (isConnectionLost(error)) {
      throw connectionLostAgain('wrap', error);
    }
    throw unexpectedPkcs11Failure(pkcs11FunctionOf(error) ?? 'wrapping a DEK', error);
  }
}

/**
 * Unwraps a DEK with the mechanism that its row names. Every failure of the data itself (a bad
 * tag, a wrong key, another row's associated data) becomes one SR_DECRYPT_FAILED, and the CKR goes
 * to the log only. Failures of the token, such as a lost connection, keep their own codes.
 */
export async function unwrapDek(
  connection: TokenConnection,
  mechanism: WrapMechanism,
  wrapped: Buffer,
  aad: Buffer,
  log: HsmLog,
): Promise<Buffer> {
  try {
    return await connection.run('unwrap', async (pkcs11, session, established) => {
      requireOffered(mechanism, established.offered, established.slotName);
      const { masterKey } = established;
      return mechanism === 'aes-256-gcm'
        ? await unwrapWithGcm(pkcs11, session, masterKey, wrapped, aad)
        : await unwrapWithKeyWrap(pkcs11, session, masterKey, mechanism, wrapped, aad, log);
    });
  } catch (error) {
    if (isStrongroomError(error)) {
      throw error;
    }
    if (isConnectionLost(error)) {
      throw connectionLostAgain('unwrap', error);
    }
    log.warn('unwrapping a DEK failed', { mechanism, reason: describeFailure(error) });
    throw new StrongroomError(
      'SR_DECRYPT_FAILED',
      'the wrapped DEK could not be unwrapped: the master key is wrong or the stored record was changed.',
    );
  }
}

function connectionLostAgain(operation: string, error: unknown): StrongroomError {
  return new StrongroomError(
    'SR_HSM_UNAVAILABLE',
    `${operation} failed because the connection to the token was lost again right after reconnecting ` +
      `(${describeFailure(error)}). Check the HSM and the network path to it.`,
    { cause: error, details: { ckr: describeFailure(error) } },
  );
}

/** Returns the PKCS#11 function that pkcs11js names in an error, if any. */
function pkcs11FunctionOf(error: unknown): string | undefined {
  const method = (error as { method?: unknown } | null)?.method;
  return typeof method === 'string' && method !== '' ? method : undefined;
}
