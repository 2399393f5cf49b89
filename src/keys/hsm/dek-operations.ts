import type { PKCS11 } from 'pkcs11js';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import { checkReopened, reopenFailed } from '../reopen-check.js';
import type { WrapMechanism } from '../types.js';
import type { CallMode } from './call-mode.js';
import { unwrapWithEcbKeyWrap, wrapWithEcbKeyWrap } from './ecb-key-wrap.js';
import { unwrapWithGcm, wrapWithGcm } from './gcm.js';
import type { HsmLog } from './hsm-log.js';
import { unwrapWithKeyWrap, wrapWithKeyWrap } from './key-wrap.js';
import { requireOffered } from './mechanisms.js';
import { describeFailure, isConnectionLost, unexpectedPkcs11Failure } from './pkcs11-failures.js';
import type { TokenConnection } from './token-connection.js';
import type { EstablishedConnection } from './token-setup.js';

/** Wraps a 32-byte DEK under the master key with the connection's mechanism. */
export async function wrapDek(
  connection: TokenConnection,
  dek: Buffer,
  aad: Buffer,
  log: HsmLog,
): Promise<{ mechanism: WrapMechanism; wrapped: Buffer }> {
  try {
    return await connection.run('wrap', (pkcs11, session, established) =>
      wrapInSession(pkcs11, session, established, dek, aad, log),
    );
  } catch (error) {
    throw wrapFailure(error);
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
    return await connection.run('unwrap', (pkcs11, session, established) =>
      unwrapInSession(pkcs11, session, established, mechanism, wrapped, aad, log),
    );
  } catch (error) {
    throw unwrapFailure(error, mechanism, log);
  }
}

/**
 * The parts of the connection that a wrap or unwrap in a borrowed session uses: the master key's
 * object handle, the mechanism that new wraps use, the mechanisms that the token offers, and who
 * computes key wrap.
 */
export type SessionKey = Pick<
  EstablishedConnection,
  'masterKey' | 'mechanism' | 'offered' | 'slotName' | 'keyWrap'
>;

/** Wraps one DEK in a session that the caller has borrowed. Errors are left as thrown. */
export async function wrapInSession(
  pkcs11: PKCS11,
  session: Buffer,
  key: SessionKey,
  dek: Buffer,
  aad: Buffer,
  log: HsmLog,
  mode: CallMode = 'async',
): Promise<{ mechanism: WrapMechanism; wrapped: Buffer }> {
  const { mechanism, masterKey } = key;
  if (key.keyWrap === 'ecb-rfc3394') {
    return { mechanism, wrapped: await wrapWithEcbKeyWrap(pkcs11, session, masterKey, dek, aad) };
  }
  const wrapped =
    mechanism === 'aes-256-gcm'
      ? await wrapWithGcm(pkcs11, session, masterKey, dek, aad, mode)
      : await wrapWithKeyWrap(pkcs11, session, masterKey, mechanism, dek, aad, log, mode);
  return { mechanism, wrapped };
}

/** Unwraps one DEK in a session that the caller has borrowed. Errors are left as thrown. */
export async function unwrapInSession(
  pkcs11: PKCS11,
  session: Buffer,
  key: SessionKey,
  mechanism: WrapMechanism,
  wrapped: Buffer,
  aad: Buffer,
  log: HsmLog,
  mode: CallMode = 'async',
): Promise<Buffer> {
  const { masterKey } = key;
  if (mechanism === 'aes-key-wrap' && key.keyWrap === 'ecb-rfc3394') {
    return unwrapWithEcbKeyWrap(pkcs11, session, masterKey, wrapped, aad);
  }
  requireOffered(mechanism, key.offered, key.slotName);
  return mechanism === 'aes-256-gcm'
    ? unwrapWithGcm(pkcs11, session, masterKey, wrapped, aad, mode)
    : unwrapWithKeyWrap(pkcs11, session, masterKey, mechanism, wrapped, aad, log, mode);
}

/**
 * Wraps one DEK like wrapInSession, then opens the new wrapping again in the same session and
 * returns it only when it opens to the DEK (WrapManyOptions.reopen). A lost connection is thrown
 * as it is, and every other failure of the second step as SR_DEK_MIGRATION_VERIFY_FAILED.
 */
export async function wrapAndReopenInSession(
  pkcs11: PKCS11,
  session: Buffer,
  key: SessionKey,
  dek: Buffer,
  aad: Buffer,
  log: HsmLog,
  mode: CallMode = 'async',
): Promise<{ mechanism: WrapMechanism; wrapped: Buffer }> {
  const result = await wrapInSession(pkcs11, session, key, dek, aad, log, mode);
  let opened: Buffer;
  try {
    opened = await unwrapInSession(
      pkcs11,
      session,
      key,
      result.mechanism,
      result.wrapped,
      aad,
      log,
      mode,
    );
  } catch (error) {
    throw reopenFailure(error);
  }
  checkReopened(dek, opened);
  return result;
}

/**
 * Returns the error to throw when a new wrapping failed to open again: a lost connection as it
 * is, so that the caller reconnects, and any other failure as SR_DEK_MIGRATION_VERIFY_FAILED.
 */
export function reopenFailure(error: unknown): unknown {
  return isConnectionLost(error) ? error : reopenFailed(describeFailure(error));
}

/** Turns an error of a wrap into the StrongroomError that the caller receives. */
export function wrapFailure(error: unknown): StrongroomError {
  if (isStrongroomError(error)) {
    return error;
  }
  if (isConnectionLost(error)) {
    return connectionLostAgain('wrap', error);
  }
  return unexpectedPkcs11Failure(pkcs11FunctionOf(error) ?? 'wrapping a DEK', error);
}

/**
 * Turns an error of an unwrap into the StrongroomError that the caller receives: SR_DECRYPT_FAILED
 * for every failure of the data, with the CKR in the log only.
 */
export function unwrapFailure(
  error: unknown,
  mechanism: WrapMechanism,
  log: HsmLog,
): StrongroomError {
  if (isStrongroomError(error)) {
    return error;
  }
  if (isConnectionLost(error)) {
    return connectionLostAgain('unwrap', error);
  }
  log.warn('unwrapping a DEK failed', { mechanism, reason: describeFailure(error) });
  return new StrongroomError(
    'SR_DECRYPT_FAILED',
    'the wrapped DEK could not be unwrapped: the master key is wrong or the stored record was changed.',
  );
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
