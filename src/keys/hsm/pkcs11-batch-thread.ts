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
import { unwrapInSession, wrapInSession, type SessionKey } from './dek-operations.js';
import type { HsmLog, LogFields, LogLevel } from './hsm-log.js';
import { ConnectionAbandonedError, isConnectionLost } from './pkcs11-failures.js';
import { loadModule } from './pkcs11-module.js';
import { asBuffer, packBytes, unpackBytes } from './protocol.js';

const DEK_BYTES = 32;

const port = parentPort;
if (port === null) {
  throw new Error(
    'pkcs11-batch-thread.js must run as a worker thread (node:worker_threads), not as a script',
  );
}

function post(message: BatchThreadMessage, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function writeLog(level: LogLevel, message: string, fields: LogFields = {}): void {
  post({ kind: 'log', level, message, fields });
}

const log: HsmLog = {
  debug: (message, fields) => writeLog('debug', message, fields),
  info: (message, fields) => writeLog('info', message, fields),
  warn: (message, fields) => writeLog('warn', message, fields),
  error: (message, fields) => writeLog('error', message, fields),
};

const { library } = workerData as { library: string };
const pkcs11 = loadModule(library);

port.on('message', (request: ChunkRequest) => {
  void runChunk(request).then(
    ({ reply, transfer }) => post(reply, transfer),
    (error: unknown) => post(failedReply(request.id, serializeItemError(error))),
  );
});

/**
 * Runs the items of a chunk one after the other. An item's own failure becomes its error and the
 * chunk goes on. A lost connection, or the worker's abandon flag, ends the chunk early.
 */
async function runChunk(
  request: ChunkRequest,
): Promise<{ reply: ChunkReply; transfer: ArrayBuffer[] }> {
  const session = asBuffer(request.session);
  const key: SessionKey = {
    masterKey: asBuffer(request.masterKey),
    mechanism: request.mechanism,
    offered: request.offered,
    slotName: request.slotName,
    keyWrap: request.keyWrap,
  };
  const aads = unpackBytes(request.aads);
  const values: Buffer[] = [];
  const errors: Array<ItemError | null> = [];
  let stop: ItemError | null = null;

  const runItem =
    request.kind === 'wrap'
      ? (index: number) => wrapItem(session, key, request.deks, aads[index] as Buffer, index)
      : unwrapItems(session, key, request.mechanisms, unpackBytes(request.wrapped), aads);

  try {
    for (let index = 0; index < aads.length; index++) {
      if (Atomics.load(request.abandoned, 0) !== 0) {
        stop = serializeItemError(new ConnectionAbandonedError());
        break;
      }
      try {
        values.push(await runItem(index));
        errors.push(null);
      } catch (error) {
        if (isConnectionLost(error)) {
          stop = serializeItemError(error);
          break;
        }
        values.push(Buffer.alloc(0));
        errors.push(serializeItemError(error));
      }
    }

    // The values move to the worker in one transferred ArrayBuffer, so no copy of a DEK stays here.
    const transfer: ArrayBuffer[] = [];
    const packed = packBytes(values, transfer);
    return {
      reply: { kind: 'reply', id: request.id, done: errors.length, values: packed, errors, stop },
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

async function wrapItem(
  session: Buffer,
  key: SessionKey,
  deks: Uint8Array,
  aad: Buffer,
  index: number,
): Promise<Buffer> {
  const dek = asBuffer(deks.subarray(index * DEK_BYTES, (index + 1) * DEK_BYTES));
  const { wrapped } = await wrapInSession(pkcs11, session, key, dek, aad, log, 'blocking');
  return wrapped;
}

function unwrapItems(
  session: Buffer,
  key: SessionKey,
  mechanisms: ChunkRequest['mechanism'][],
  wrapped: Buffer[],
  aads: Buffer[],
): (index: number) => Promise<Buffer> {
  return (index) =>
    unwrapInSession(
      pkcs11,
      session,
      key,
      mechanisms[index] ?? key.mechanism,
      wrapped[index] ?? Buffer.alloc(0),
      aads[index] ?? Buffer.alloc(0),
      log,
      'blocking',
    );
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
