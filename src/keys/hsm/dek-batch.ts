import pkcs11js, { type PKCS11 } from 'pkcs11js';

import type { StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';
import { rebuildItemError, type ChunkFields, type ItemError } from './batch-thread-protocol.js';
import type { BatchThreads } from './batch-threads.js';
import {
  unwrapFailure,
  unwrapInSession,
  wrapAndReopenInSession,
  wrapFailure,
  wrapInSession,
} from './dek-operations.js';
import type { HsmLog } from './hsm-log.js';
import { isConnectionLost } from './pkcs11-failures.js';
import { packBytes, unpackBytes } from './protocol.js';
import type { TokenConnection } from './token-connection.js';
import type { EstablishedConnection } from './token-setup.js';

/** The result of one item of a batch in the worker. */
export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: StrongroomError };

/** The steps that turn one kind of batch into chunks for the batch threads and read their replies. */
interface BatchStep<I, R> {
  /** Builds the chunk of `items` for a session, pushing its ArrayBuffers onto `transfer`. */
  chunk: (
    items: readonly I[],
    session: Buffer,
    established: EstablishedConnection,
    transfer: ArrayBuffer[],
  ) => ChunkFields;
  value: (bytes: Buffer, established: EstablishedConnection) => R;
  failure: (error: unknown, item: I) => StrongroomError;
  /** Runs one item in the worker, for modules whose sessions a thread cannot use. */
  inWorker: (
    pkcs11: PKCS11,
    session: Buffer,
    established: EstablishedConnection,
    item: I,
  ) => Promise<R>;
}

/**
 * Wraps each DEK of a batch, spread over the connection's sessions and the batch threads. With
 * `reopen`, each new wrapping is opened again before it counts (WrapManyOptions.reopen).
 */
export function wrapDeks(
  connection: TokenConnection,
  threads: BatchThreads,
  items: ReadonlyArray<{ dek: Buffer; aad: Buffer }>,
  reopen: boolean,
  log: HsmLog,
): Promise<Array<ItemOutcome<{ mechanism: WrapMechanism; wrapped: Buffer }>>> {
  const wrapOne = reopen ? wrapAndReopenInSession : wrapInSession;
  return runBatch(connection, threads, 'wrapMany', items, {
    chunk: (chunkItems, session, established, transfer) => ({
      kind: 'wrap',
      ...sessionFields(session, established),
      deks: packBytes(
        chunkItems.map((item) => item.dek),
        transfer,
      ).bytes,
      aads: packBytes(
        chunkItems.map((item) => item.aad),
        transfer,
      ),
      reopen,
    }),
    value: (wrapped, established) => ({ mechanism: established.mechanism, wrapped }),
    failure: (error) => wrapFailure(error),
    inWorker: (pkcs11, session, established, item) =>
      wrapOne(pkcs11, session, established, item.dek, item.aad, log),
  });
}

/** Unwraps each DEK of a batch, spread over the connection's sessions and the batch threads. */
export function unwrapDeks(
  connection: TokenConnection,
  threads: BatchThreads,
  items: ReadonlyArray<{ mechanism: WrapMechanism; wrapped: Buffer; aad: Buffer }>,
  log: HsmLog,
): Promise<Array<ItemOutcome<Buffer>>> {
  return runBatch(connection, threads, 'unwrapMany', items, {
    chunk: (chunkItems, session, established, transfer) => ({
      kind: 'unwrap',
      ...sessionFields(session, established),
      mechanisms: chunkItems.map((item) => item.mechanism),
      wrapped: packBytes(
        chunkItems.map((item) => item.wrapped),
        transfer,
      ),
      aads: packBytes(
        chunkItems.map((item) => item.aad),
        transfer,
      ),
    }),
    value: (dek) => dek,
    failure: (error, item) => unwrapFailure(error, item.mechanism, log),
    inWorker: (pkcs11, session, established, item) =>
      unwrapInSession(pkcs11, session, established, item.mechanism, item.wrapped, item.aad, log),
  });
}

/**
 * Splits the items into one contiguous share per pooled session and runs the shares at once, each
 * as a chunk on a batch thread with the session it borrowed. An item's own failure becomes its
 * outcome and the chunk goes on. A lost connection ends the chunk: TokenConnection.run reconnects
 * and runs the share again, skipping the items already done, and if that fails too every item
 * left gets the error.
 */
async function runBatch<I, R>(
  connection: TokenConnection,
  threads: BatchThreads,
  operation: string,
  items: readonly I[],
  step: BatchStep<I, R>,
): Promise<Array<ItemOutcome<R>>> {
  const outcomes: Array<ItemOutcome<R> | undefined> = new Array<undefined>(items.length);
  const shares = Math.max(1, Math.min(connection.poolSize, items.length));
  const shareSize = Math.ceil(items.length / shares);

  /**
   * Runs items one after the other in the worker. An item's own failure becomes its outcome, and
   * a lost connection is thrown so that TokenConnection.run reconnects.
   */
  const runInWorker = async (indexes: number[], run: (index: number) => Promise<R>) => {
    for (const index of indexes) {
      try {
        outcomes[index] = { ok: true, value: await run(index) };
      } catch (error) {
        if (isConnectionLost(error)) {
          throw error;
        }
        outcomes[index] = { ok: false, error: step.failure(error, items[index] as I) };
      }
    }
  };

  const runShare = async (first: number): Promise<void> => {
    const end = Math.min(items.length, first + shareSize);
    try {
      await connection.run(operation, async (pkcs11, session, established) => {
        const pending: number[] = [];
        for (let index = first; index < end; index++) {
          if (outcomes[index] === undefined) {
            pending.push(index);
          }
        }
        if (!threads.sharesModule) {
          await runInWorker(pending, (index) =>
            step.inWorker(pkcs11, session, established, items[index] as I),
          );
          return;
        }

        const transfer: ArrayBuffer[] = [];
        const chunkItems = pending.map((index) => items[index] as I);
        const reply = await threads.run(
          step.chunk(chunkItems, session, established, transfer),
          transfer,
        );
        const values = unpackBytes(reply.values);
        reply.errors.forEach((error, position) => {
          const index = pending[position] as number;
          outcomes[index] =
            error === null
              ? { ok: true, value: step.value(values[position] as Buffer, established) }
              : { ok: false, error: step.failure(rebuildItemError(error), items[index] as I) };
        });
        if (reply.stop !== null && reply.done === 0 && isModuleNotShared(reply.stop)) {
          // The thread's module instance was never initialised. If the worker's works, the module
          // gives each caller an instance of its own, and this and later batches run here.
          const rest = pending.filter((index) => outcomes[index] === undefined);
          await runInWorker(rest.slice(0, 1), (index) =>
            step.inWorker(pkcs11, session, established, items[index] as I),
          );
          if (threads.sharesModule) {
            threads.sharesModule = false;
            threads.warnNotShared();
          }
          await runInWorker(rest.slice(1), (index) =>
            step.inWorker(pkcs11, session, established, items[index] as I),
          );
          return;
        }
        if (reply.stop !== null) {
          throw rebuildItemError(reply.stop);
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

function isModuleNotShared(stop: ItemError): boolean {
  return stop.kind === 'pkcs11' && stop.ckr === pkcs11js.CKR_CRYPTOKI_NOT_INITIALIZED;
}

function sessionFields(session: Buffer, established: EstablishedConnection) {
  return {
    session: new Uint8Array(session),
    masterKey: new Uint8Array(established.masterKey),
    mechanism: established.mechanism,
    offered: established.offered,
    slotName: established.slotName,
    keyWrap: established.keyWrap,
    abandoned: established.abandoned,
  };
}
