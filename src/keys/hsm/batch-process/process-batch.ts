/**
 * wrapMany and unwrapMany through the batch processes: the items are split into one contiguous
 * share per process, and each share runs as one chunk.
 */
import { StrongroomError } from '../../../errors.js';
import type {
  BatchResult,
  UnwrapRequest,
  WrapManyOptions,
  WrapMechanism,
  WrapRequest,
  WrappedKey,
} from '../../types.js';
import { rebuildItemError } from '../batch-thread-protocol.js';
import type { ChunkItems } from '../chunk-items.js';
import { unwrapFailure, wrapFailure } from '../dek-operations.js';
import type { HsmLog } from '../hsm-log.js';
import { isWrapMechanism } from '../mechanisms.js';
import { asBuffer, packBytes } from '../protocol.js';
import type { BatchProcesses } from './batch-processes.js';

/**
 * Wraps each DEK under the master key with `mechanism`, the one that the provider opened with.
 * With `options.reopen`, each process opens its new wrappings again before it replies.
 */
export async function wrapManyInProcesses(
  processes: BatchProcesses,
  requests: readonly WrapRequest[],
  mechanism: WrapMechanism,
  options: WrapManyOptions,
): Promise<Array<BatchResult<WrappedKey>>> {
  return runShares(processes, requests, {
    items: (share) => ({
      kind: 'wrap',
      deks: packBytes(
        share.map((request) => request.dek),
        [],
      ).bytes,
      aads: packBytes(
        share.map((request) => request.aad),
        [],
      ),
      reopen: options.reopen === true,
    }),
    // Wrapped bytes are no secret, so they stay views of the reply, which frames.ts copied out.
    value: (wrapped) => ({ mechanism, wrapped }),
    failure: (error) => wrapFailure(error),
  });
}

/** Unwraps each DEK with the mechanism its item names. An unknown mechanism fails its item only. */
export async function unwrapManyInProcesses(
  processes: BatchProcesses,
  requests: readonly UnwrapRequest[],
  log: HsmLog,
): Promise<Array<BatchResult<Buffer>>> {
  const known = requests.flatMap((request, index) =>
    isWrapMechanism(request.key.mechanism) ? [index] : [],
  );
  const opened = await runShares(
    processes,
    known.map((index) => requests[index] as UnwrapRequest),
    {
      items: (share) => ({
        kind: 'unwrap',
        mechanisms: share.map((request) => request.key.mechanism as WrapMechanism),
        wrapped: packBytes(
          share.map((request) => request.key.wrapped),
          [],
        ),
        aads: packBytes(
          share.map((request) => request.aad),
          [],
        ),
      }),
      // Each DEK gets memory of its own, as unwrap() returns it, and the received copy is zeroed.
      value: (dek) => {
        const copy = ownCopy(dek);
        dek.fill(0);
        return copy;
      },
      failure: (error, request) =>
        unwrapFailure(error, request.key.mechanism as WrapMechanism, log),
    },
  );
  let position = 0;
  return requests.map((request) =>
    isWrapMechanism(request.key.mechanism)
      ? (opened[position++] as BatchResult<Buffer>)
      : {
          ok: false,
          error: new StrongroomError(
            'SR_DECRYPT_FAILED',
            'the wrapped DEK names a mechanism that Strongroom does not know.',
          ),
        },
  );
}

interface ShareSteps<I, R> {
  items: (share: readonly I[]) => ChunkItems;
  /** Turns the bytes of a reply into the item's value, and zeroes them if they are secret. */
  value: (bytes: Buffer) => R;
  failure: (error: unknown, item: I) => StrongroomError;
}

async function runShares<I, R>(
  processes: BatchProcesses,
  requests: readonly I[],
  steps: ShareSteps<I, R>,
): Promise<Array<BatchResult<R>>> {
  const results = new Array<BatchResult<R> | undefined>(requests.length);
  const shares = Math.max(1, Math.min(processes.size, requests.length));
  const shareSize = Math.ceil(requests.length / shares);

  const runShare = async (first: number): Promise<void> => {
    const share = requests.slice(first, first + shareSize);
    const items = steps.items(share);
    try {
      const reply = await processes.run(items);
      reply.errors.forEach((error, position) => {
        results[first + position] =
          error === null
            ? { ok: true, value: steps.value(reply.values[position] as Buffer) }
            : { ok: false, error: steps.failure(rebuildItemError(error), share[position] as I) };
      });
      if (reply.stop !== null) {
        throw rebuildItemError(reply.stop);
      }
    } catch (error) {
      share.forEach((item, position) => {
        results[first + position] ??= { ok: false, error: steps.failure(error, item) };
      });
    } finally {
      if (items.kind === 'wrap') {
        items.deks.fill(0);
      }
    }
  };

  const starts: number[] = [];
  for (let first = 0; first < requests.length; first += shareSize) {
    starts.push(first);
  }
  await Promise.all(starts.map(runShare));
  return results as Array<BatchResult<R>>;
}

/** Copies bytes into an ArrayBuffer of their own, never into Node's shared pool of small Buffers. */
function ownCopy(bytes: Buffer): Buffer {
  return asBuffer(new Uint8Array(bytes));
}
