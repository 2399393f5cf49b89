import type { StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';
import { unwrapFailure, unwrapInSession, wrapFailure, wrapInSession } from './dek-operations.js';
import type { HsmLog } from './hsm-log.js';
import { isConnectionLost } from './pkcs11-failures.js';
import type { OperationBody, TokenConnection } from './token-connection.js';

/** The result of one item of a batch in the worker. */
export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: StrongroomError };

/** One item of a batch: the operation on a borrowed session, and how its errors reach the caller. */
interface BatchStep<I, R> {
  run: (item: I, ...session: Parameters<OperationBody<R>>) => Promise<R>;
  failure: (error: unknown, item: I) => StrongroomError;
}

/** Wraps each DEK of a batch, spread over the connection's sessions. */
export function wrapDeks(
  connection: TokenConnection,
  items: ReadonlyArray<{ dek: Buffer; aad: Buffer }>,
  log: HsmLog,
): Promise<Array<ItemOutcome<{ mechanism: WrapMechanism; wrapped: Buffer }>>> {
  return runBatch(connection, 'wrapMany', items, {
    run: (item, pkcs11, session, established) =>
      wrapInSession(pkcs11, session, established, item.dek, item.aad, log),
    failure: (error) => wrapFailure(error),
  });
}

/** Unwraps each DEK of a batch, spread over the connection's sessions. */
export function unwrapDeks(
  connection: TokenConnection,
  items: ReadonlyArray<{ mechanism: WrapMechanism; wrapped: Buffer; aad: Buffer }>,
  log: HsmLog,
): Promise<Array<ItemOutcome<Buffer>>> {
  return runBatch(connection, 'unwrapMany', items, {
    run: (item, pkcs11, session, established) =>
      unwrapInSession(pkcs11, session, established, item.mechanism, item.wrapped, item.aad, log),
    failure: (error, item) => unwrapFailure(error, item.mechanism, log),
  });
}

/**
 * Splits the items into one contiguous share per pooled session and runs the shares at once, each
 * item after the other within its session. An item's own failure becomes its outcome and the
 * share goes on. A lost connection ends the share: TokenConnection.run reconnects and runs it
 * again, skipping the items already done, and if that fails too every item left gets the error.
 */
async function runBatch<I, R>(
  connection: TokenConnection,
  operation: string,
  items: readonly I[],
  step: BatchStep<I, R>,
): Promise<Array<ItemOutcome<R>>> {
  const outcomes: Array<ItemOutcome<R> | undefined> = new Array<undefined>(items.length);
  const shares = Math.max(1, Math.min(connection.poolSize, items.length));
  const shareSize = Math.ceil(items.length / shares);

  const runShare = async (first: number): Promise<void> => {
    const end = Math.min(items.length, first + shareSize);
    try {
      await connection.run(operation, async (pkcs11, session, established) => {
        for (let index = first; index < end; index++) {
          if (outcomes[index] !== undefined) {
            continue;
          }
          const item = items[index] as I;
          try {
            const value = await step.run(item, pkcs11, session, established);
            outcomes[index] = { ok: true, value };
          } catch (error) {
            if (isConnectionLost(error)) {
              throw error;
            }
            outcomes[index] = { ok: false, error: step.failure(error, item) };
          }
        }
      });
    } catch (error) {
      for (let index = first; index < end; index++) {
        outcomes[index] ??= { ok: false, error: step.failure(error, items[index] as I) };
      }
    }
  };

  const starts = Array.from({ length: shares }, (_, share) => share * shareSize);
  await Promise.all(starts.filter((first) => first < items.length).map(runShare));
  return outcomes as Array<ItemOutcome<R>>;
}
