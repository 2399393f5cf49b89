/**
 * The main thread's side of the batch calls: packs the items of wrapMany and unwrapMany into
 * worker messages and turns the replies into one BatchResult per item.
 */
import type {
  BatchResult,
  UnwrapRequest,
  WrapManyOptions,
  WrapRequest,
  WrappedKey,
} from '../types.js';
import { StrongroomError } from '../../errors.js';
import { isWrapMechanism } from './mechanisms.js';
import { asBuffer, packBytes, unpackBytes, type BatchErrors } from './protocol.js';
import { rebuildError, type WorkerClient } from './worker-client.js';

const DEK_BYTES = 32;

/**
 * Items per worker message. A larger batch is sent as several messages at once, so that one
 * message of a large batch stays well inside the worker's request timeout.
 */
const MAX_ITEMS_PER_MESSAGE = 1_000;

/** Wraps the DEKs in messages of at most MAX_ITEMS_PER_MESSAGE items. */
export async function wrapManyInWorker(
  client: WorkerClient,
  requests: readonly WrapRequest[],
  options: WrapManyOptions,
): Promise<Array<BatchResult<WrappedKey>>> {
  checkDekLengths(requests);
  const reopen = options.reopen === true;
  const parts = await Promise.all(
    slices(requests).map((slice) => wrapSlice(client, slice, reopen)),
  );
  return parts.flat();
}

/** Throws a RangeError that names the first DEK of a batch that is not 32 bytes long. */
export function checkDekLengths(requests: readonly WrapRequest[]): void {
  for (const [index, request] of requests.entries()) {
    if (request.dek.length !== DEK_BYTES) {
      throw new RangeError(
        `dek ${index} of the batch must be ${DEK_BYTES} bytes, got ${request.dek.length}`,
      );
    }
  }
}

/** Unwraps the DEKs in messages of at most MAX_ITEMS_PER_MESSAGE items. */
export async function unwrapManyInWorker(
  client: WorkerClient,
  requests: readonly UnwrapRequest[],
): Promise<Array<BatchResult<Buffer>>> {
  const parts = await Promise.all(slices(requests).map((slice) => unwrapSlice(client, slice)));
  return parts.flat();
}

async function wrapSlice(
  client: WorkerClient,
  requests: readonly WrapRequest[],
  reopen: boolean,
): Promise<Array<BatchResult<WrappedKey>>> {
  // The worker receives one copy of the DEKs that it zeroes after use. The caller keeps and
  // zeroes its own DEKs.
  const transfer: ArrayBuffer[] = [];
  const deks = packBytes(
    requests.map((request) => request.dek),
    transfer,
  );
  const aads = packBytes(
    requests.map((request) => request.aad),
    transfer,
  );
  const result = await client.call('wrapMany', { deks: deks.bytes, aads, reopen }, transfer);

  const wrapped = unpackBytes(result.wrapped);
  return settleEach(result.errors, (index) => ({
    mechanism: result.mechanism,
    wrapped: wrapped[index] ?? Buffer.alloc(0),
  }));
}

async function unwrapSlice(
  client: WorkerClient,
  requests: readonly UnwrapRequest[],
): Promise<Array<BatchResult<Buffer>>> {
  const known = requests.filter((request) => isWrapMechanism(request.key.mechanism));
  if (known.length < requests.length) {
    // The worker cannot tell an unknown mechanism apart from a valid one, so those items fail here.
    return unwrapKnownOnly(client, requests);
  }

  const transfer: ArrayBuffer[] = [];
  const params = {
    mechanisms: requests.map((request) => request.key.mechanism),
    wrapped: packBytes(
      requests.map((request) => request.key.wrapped),
      transfer,
    ),
    aads: packBytes(
      requests.map((request) => request.aad),
      transfer,
    ),
  };
  const result = await client.call('unwrapMany', params, transfer);

  // Each DEK gets an ArrayBuffer of its own, like unwrap() returns, so that zeroing or keeping
  // one DEK has no effect on the others. The packed copy is zeroed.
  const deks = unpackBytes(result.deks).map((view) => asBuffer(new Uint8Array(view)));
  result.deks.bytes.fill(0);
  return settleEach(result.errors, (index) => deks[index] ?? Buffer.alloc(0));
}

/** Fails the items with an unknown mechanism and unwraps the others in one message. */
async function unwrapKnownOnly(
  client: WorkerClient,
  requests: readonly UnwrapRequest[],
): Promise<Array<BatchResult<Buffer>>> {
  const knownIndexes = requests.flatMap((request, index) =>
    isWrapMechanism(request.key.mechanism) ? [index] : [],
  );
  const opened = await unwrapSlice(
    client,
    knownIndexes.map((index) => requests[index] as UnwrapRequest),
  );

  const results: Array<BatchResult<Buffer>> = requests.map(() => ({
    ok: false,
    error: new StrongroomError(
      'SR_DECRYPT_FAILED',
      'the wrapped DEK names a mechanism that Strongroom does not know.',
    ),
  }));
  knownIndexes.forEach((requestIndex, position) => {
    results[requestIndex] = opened[position] as BatchResult<Buffer>;
  });
  return results;
}

function settleEach<T>(errors: BatchErrors, value: (index: number) => T): Array<BatchResult<T>> {
  return errors.map((error, index) =>
    error === null ? { ok: true, value: value(index) } : { ok: false, error: rebuildError(error) },
  );
}

function slices<T>(items: readonly T[]): T[][] {
  const parts: T[][] = [];
  for (let start = 0; start < items.length; start += MAX_ITEMS_PER_MESSAGE) {
    parts.push(items.slice(start, start + MAX_ITEMS_PER_MESSAGE));
  }
  return parts;
}
