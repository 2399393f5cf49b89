import pkcs11js from 'pkcs11js';
import { StrongroomError } from '../../errors.js';

/** CKR value to constant name, built from the CKR_* constants that pkcs11js exports. */
const ckrNames: ReadonlyMap<number, string> = new Map(
  Object.entries(pkcs11js)
    .filter(
      (entry): entry is [string, number] =>
        entry[0].startsWith('CKR_') && typeof entry[1] === 'number',
    )
    .map(([name, value]) => [value, name]),
);

/**
 * Return values after which the sessions of this application are gone: the token was removed or
 * restarted, the library lost its connection, or the login state was reset. The only recovery is
 * to open new sessions and log in again.
 */
const connectionLostCodes: ReadonlySet<number> = new Set([
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_DEVICE_ERROR,
  pkcs11js.CKR_DEVICE_REMOVED,
  pkcs11js.CKR_TOKEN_NOT_PRESENT,
  pkcs11js.CKR_CRYPTOKI_NOT_INITIALIZED,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
]);

/** Returns the constant name of a CKR value, or its hex form when pkcs11js has no name for it. */
export function ckrName(code: number): string {
  return ckrNames.get(code) ?? `CKR 0x${code.toString(16).padStart(8, '0')}`;
}

/**
 * Returns the CKR value carried by an error that pkcs11js threw, directly or as the cause of
 * another error, or undefined for any other error. pkcs11js sets the message to the CKR name and
 * `code` to its value.
 */
export function ckrOf(error: unknown): number | undefined {
  if (!(error instanceof Error)) {
    return undefined;
  }

  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'number' && error.message.startsWith('CKR_')) {
    return code;
  }
  // An error made by unexpectedPkcs11Failure() keeps the pkcs11js error as its cause.
  return error.cause === undefined ? undefined : ckrOf(error.cause);
}

/** Returns the CKR name of a pkcs11js error, or the error's message for any other error. */
export function describeFailure(error: unknown): string {
  const code = ckrOf(error);
  if (code !== undefined) {
    return ckrName(code);
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Another operation found the connection lost and the worker dropped it, so a batch thread left
 * the rest of its chunk undone. It counts as a lost connection: the operation reconnects and runs
 * those items again.
 */
export class ConnectionAbandonedError extends Error {
  override readonly name = 'ConnectionAbandonedError';
}

/** Tells whether an error means that the sessions are lost and the connection must be rebuilt. */
export function isConnectionLost(error: unknown): boolean {
  if (error instanceof ConnectionAbandonedError) {
    return true;
  }
  const code = ckrOf(error);
  return code !== undefined && connectionLostCodes.has(code);
}

/** Tells whether an error carries the given CKR value. */
export function hasCkr(error: unknown, code: number): boolean {
  return ckrOf(error) === code;
}

/** Builds the error for a PKCS#11 failure that no caller handles: it names the function and the CKR. */
export function unexpectedPkcs11Failure(functionName: string, error: unknown): StrongroomError {
  const failure = describeFailure(error);
  return new StrongroomError('SR_HSM_OPERATION_FAILED', `${functionName} failed with ${failure}.`, {
    cause: error,
    details: { function: functionName, ckr: failure },
  });
}

/**
 * Runs one synchronous PKCS#11 call and converts a failure into the error of
 * unexpectedPkcs11Failure, so that every message names the function that failed.
 */
export function callPkcs11<T>(functionName: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw unexpectedPkcs11Failure(functionName, error);
  }
}
