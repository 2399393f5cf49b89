/**
 * Runs the items of one chunk in one session with blocking pkcs11js calls, for a batch thread of
 * the PKCS#11 worker and for a batch process alike.
 */
import type { PKCS11 } from 'pkcs11js';
import type { WrapMechanism } from '../types.js';
import { serializeItemError, type ItemError } from './batch-thread-protocol.js';
import {
  unwrapInSession,
  wrapAndReopenInSession,
  wrapInSession,
  type SessionKey,
} from './dek-operations.js';
import { wrapWithGcmBlocking } from './gcm-blocking.js';
import type { HsmLog } from './hsm-log.js';
import { isConnectionLost } from './pkcs11-failures.js';
import { asBuffer, unpackBytes, type PackedBytes } from './protocol.js';

const DEK_BYTES = 32;

/**
 * The items of a chunk: DEKs to wrap, 32 bytes each one after another, or wrapped DEKs to open.
 * With `reopen`, each new wrapping is opened again before it counts (WrapManyOptions.reopen).
 */
export type ChunkItems =
  | { kind: 'wrap'; deks: Uint8Array; aads: PackedBytes; reopen: boolean }
  | { kind: 'unwrap'; mechanisms: WrapMechanism[]; wrapped: PackedBytes; aads: PackedBytes };

/**
 * The outcome of a chunk: the first `values.length` items ran, each with its value (wrapped
 * bytes or a DEK) or its error. `stop` is the error that ended the chunk early, if one did.
 */
export interface ChunkOutcome {
  values: Buffer[];
  errors: Array<ItemError | null>;
  stop: ItemError | null;
}

/**
 * Runs the items one after the other. An item's own failure becomes its error and the chunk goes
 * on. A lost connection ends the chunk, and so does `stopError` returning an error before an item.
 * The caller zeroes the values once it has sent them on.
 */
export async function runChunkItems(
  pkcs11: PKCS11,
  session: Buffer,
  key: SessionKey,
  items: ChunkItems,
  log: HsmLog,
  stopError: () => Error | undefined = () => undefined,
): Promise<ChunkOutcome> {
  const aads = unpackBytes(items.aads);
  const outcome: ChunkOutcome = { values: [], errors: [], stop: null };
  const runItem = itemRunner(pkcs11, session, key, items, aads, log);

  for (let index = 0; index < aads.length; index++) {
    const stop = stopError();
    if (stop !== undefined) {
      outcome.stop = serializeItemError(stop);
      break;
    }
    try {
      const value = runItem(index);
      outcome.values.push(value instanceof Promise ? await value : value);
      outcome.errors.push(null);
    } catch (error) {
      if (isConnectionLost(error)) {
        outcome.stop = serializeItemError(error);
        break;
      }
      outcome.values.push(Buffer.alloc(0));
      outcome.errors.push(serializeItemError(error));
    }
  }
  return outcome;
}

function itemRunner(
  pkcs11: PKCS11,
  session: Buffer,
  key: SessionKey,
  items: ChunkItems,
  aads: Buffer[],
  log: HsmLog,
): (index: number) => Buffer | Promise<Buffer> {
  const dekAt = (deks: Uint8Array, index: number): Buffer =>
    asBuffer(deks.subarray(index * DEK_BYTES, (index + 1) * DEK_BYTES));
  if (items.kind === 'wrap' && key.keyWrap !== 'ecb-rfc3394' && key.mechanism === 'aes-256-gcm') {
    // The common case runs without a promise per item.
    return (index) =>
      wrapWithGcmBlocking(
        pkcs11,
        session,
        key.masterKey,
        dekAt(items.deks, index),
        aads[index] as Buffer,
        items.reopen,
      );
  }
  if (items.kind === 'wrap') {
    const wrap = items.reopen ? wrapAndReopenInSession : wrapInSession;
    return async (index) => {
      const aad = aads[index] as Buffer;
      const dek = dekAt(items.deks, index);
      const { wrapped } = await wrap(pkcs11, session, key, dek, aad, log, 'blocking');
      return wrapped;
    };
  }
  const wrapped = unpackBytes(items.wrapped);
  return (index) =>
    unwrapInSession(
      pkcs11,
      session,
      key,
      items.mechanisms[index] ?? key.mechanism,
      wrapped[index] ?? Buffer.alloc(0),
      aads[index] ?? Buffer.alloc(0),
      log,
      'blocking',
    );
}
