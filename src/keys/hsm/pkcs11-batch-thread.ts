/**
 * Entry point of a PKCS#11 batch thread. The PKCS#11 worker starts these for wrapMany and
 * unwrapMany and sends each one chunk of items at a time, with a session that it has borrowed from
 * its pool. The thread makes blocking pkcs11js calls, which save the hand-over to the libuv
 * thread pool that the worker's async calls pay for every item. Several threads, one per session,
 * keep the sessions working at once.
 *
 * PKCS#11 session and object handles belong to the process, not to the thread that made them, so
 * the thread uses the worker's session and master key handles as they are. It never calls
 * C_Initialize, C_Login, C_Logout or C_Finalize: the worker alone manages the module and the login,
 * and lends a session only while the connection is established.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  serializeItemError,
  type BatchThreadMessage,
  type ChunkReply,
  type ChunkRequest,
  type ItemError,
} from './batch-thread-protocol.js';
import { runChunkItems } from './chunk-items.js';
import type { SessionKey } from './dek-operations.js';
import { forwardingHsmLog } from './hsm-log.js';
import { ConnectionAbandonedError } from './pkcs11-failures.js';
import { loadModule } from './pkcs11-module.js';
import { asBuffer, packBytes } from './protocol.js';

const port = parentPort;
if (port === null) {
  throw new Error(
    'pkcs11-batch-thread.js must run as a worker thread (node:worker_threads), not as a script',
  );
}

function post(message: BatchThreadMessage, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

const log = forwardingHsmLog((level, message, fields) =>
  post({ kind: 'log', level, message, fields }),
);

const { library } = workerData as { library: string };
const pkcs11 = loadModule(library);

port.on('message', (request: ChunkRequest) => {
  void runChunk(request).then(
    ({ reply, transfer }) => post(reply, transfer),
    (error: unknown) => post(failedReply(request.id, serializeItemError(error))),
  );
});

/**
 * Runs the items of a chunk. A lost connection, or the worker's abandon flag, ends the chunk early.
 */
async function runChunk(
  request: ChunkRequest,
): Promise<{ reply: ChunkReply; transfer: ArrayBuffer[] }> {
  const key: SessionKey = {
    masterKey: asBuffer(request.masterKey),
    mechanism: request.mechanism,
    offered: request.offered,
    slotName: request.slotName,
    keyWrap: request.keyWrap,
  };
  const abandoned = (): Error | undefined =>
    Atomics.load(request.abandoned, 0) !== 0 ? new ConnectionAbandonedError() : undefined;
  let values: Buffer[] = [];
  try {
    const outcome = await runChunkItems(
      pkcs11,
      asBuffer(request.session),
      key,
      request,
      log,
      abandoned,
    );
    values = outcome.values;
    // The values move to the worker in one transferred ArrayBuffer, so no copy of a DEK stays here.
    const transfer: ArrayBuffer[] = [];
    const packed = packBytes(values, transfer);
    return {
      reply: {
        kind: 'reply',
        id: request.id,
        done: outcome.errors.length,
        values: packed,
        errors: outcome.errors,
        stop: outcome.stop,
      },
      transfer,
    };
  } finally {
    for (const value of values) {
      value.fill(0);
    }
    if (request.kind === 'wrap') {
      request.deks.fill(0);
    }
  }
}

function failedReply(id: number, stop: ItemError): ChunkReply {
  return {
    kind: 'reply',
    id,
    done: 0,
    values: { bytes: new Uint8Array(0), lengths: [] },
    errors: [],
    stop,
  };
}
