/**
 * The worker's side of the batch calls: unpacks the items of a wrapMany or unwrapMany message,
 * runs them through dek-batch.ts and packs the results. Plaintext DEKs that pass through the
 * worker are zeroed here once they are packed for the main thread.
 */
import type { StrongroomError } from '../../errors.js';
import type { BatchThreads } from './batch-threads.js';
import { unwrapDeks, wrapDeks, type ItemOutcome } from './dek-batch.js';
import type { HsmLog } from './hsm-log.js';
import {
  asBuffer,
  packBytes,
  unpackBytes,
  type BatchErrors,
  type WorkerCalls,
} from './protocol.js';
import type { TokenConnection } from './token-connection.js';

const DEK_BYTES = 32;

export async function handleWrapMany(
  connection: TokenConnection,
  threads: BatchThreads,
  params: WorkerCalls['wrapMany']['params'],
  transfer: ArrayBuffer[],
  log: HsmLog,
): Promise<WorkerCalls['wrapMany']['result']> {
  // The DEKs arrived in an ArrayBuffer that belongs to the worker, so it is zeroed here.
  const deks = asBuffer(params.deks);
  try {
    const aads = unpackBytes(params.aads);
    const items = aads.map((aad, index) => ({
      dek: deks.subarray(index * DEK_BYTES, (index + 1) * DEK_BYTES),
      aad,
    }));
    const outcomes = await wrapDeks(connection, threads, items, params.reopen, log);
    const first = outcomes.find((outcome) => outcome.ok);
    return {
      mechanism: first?.ok === true ? first.value.mechanism : 'aes-256-gcm',
      wrapped: packBytes(
        outcomes.map((outcome) => (outcome.ok ? outcome.value.wrapped : new Uint8Array(0))),
        transfer,
      ),
      errors: errorsOf(outcomes),
    };
  } finally {
    deks.fill(0);
  }
}

export async function handleUnwrapMany(
  connection: TokenConnection,
  threads: BatchThreads,
  params: WorkerCalls['unwrapMany']['params'],
  transfer: ArrayBuffer[],
  log: HsmLog,
): Promise<WorkerCalls['unwrapMany']['result']> {
  const wrapped = unpackBytes(params.wrapped);
  const aads = unpackBytes(params.aads);
  const items = wrapped.map((bytes, index) => ({
    mechanism: params.mechanisms[index] ?? 'aes-256-gcm',
    wrapped: bytes,
    aad: aads[index] ?? Buffer.alloc(0),
  }));

  const outcomes = await unwrapDeks(connection, threads, items, log);
  const deks = outcomes.map((outcome) => (outcome.ok ? outcome.value : Buffer.alloc(0)));
  try {
    // The DEKs move to the main thread in one transferred ArrayBuffer, so no copy stays here.
    return { deks: packBytes(deks, transfer), errors: errorsOf(outcomes) };
  } finally {
    for (const dek of deks) {
      dek.fill(0);
    }
  }
}

function errorsOf<T>(outcomes: ReadonlyArray<ItemOutcome<T>>): BatchErrors {
  return outcomes.map((outcome) => (outcome.ok ? null : serialize(outcome.error)));
}

function serialize(error: StrongroomError): NonNullable<BatchErrors[number]> {
  return { code: error.code, message: error.message, details: error.details };
}
