/**
 * Entry point of the PKCS#11 worker thread. Every PKCS#11 call of the HSM provider runs here or in
 * a batch thread that this worker starts, so that C_Initialize, C_Login and C_FindObjects never
 * block the main thread's event loop. Single wraps and unwraps use pkcs11js's async variants so
 * that several pooled sessions work at once. wrapMany and unwrapMany lend pooled sessions to batch
 * threads (pkcs11-batch-thread.ts), which make blocking calls, one thread per session.
 */
import { parentPort } from 'node:worker_threads';
import { errorRegistry, isStrongroomError, StrongroomError } from '../../errors.js';
import { handleUnwrapMany, handleWrapMany } from './batch-handlers.js';
import { BatchThreads } from './batch-threads.js';
import { unwrapDek, wrapDek } from './dek-operations.js';
import type { HsmLog, LogFields, LogLevel } from './hsm-log.js';
import { generateAuditKey, inspectMacKey } from './mac-key-tools.js';
import { signWithTokenKey, verifyWithTokenKey } from './mac-operations.js';
import {
  asBuffer,
  transferableCopy,
  type CallName,
  type OpenedToken,
  type RequestMessage,
  type SerializedError,
  type WorkerCalls,
  type WorkerMessage,
} from './protocol.js';
import { TokenConnection } from './token-connection.js';
import { generateMasterKey, inspectToken } from './token-inspection.js';

const port = parentPort;
if (port === null) {
  throw new Error(
    'pkcs11-worker.js must run as a worker thread (node:worker_threads), not as a script',
  );
}

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

const log: HsmLog = {
  debug: (message, fields) => writeLog('debug', message, fields),
  info: (message, fields) => writeLog('info', message, fields),
  warn: (message, fields) => writeLog('warn', message, fields),
  error: (message, fields) => writeLog('error', message, fields),
};

function writeLog(level: LogLevel, message: string, fields: LogFields = {}): void {
  post({ kind: 'log', level, message, fields });
}

let connection: TokenConnection | undefined;
let threads: BatchThreads | undefined;

port.on('message', (request: RequestMessage) => {
  void handle(request);
});

async function handle(request: RequestMessage): Promise<void> {
  try {
    const transfer: ArrayBuffer[] = [];
    const result = await dispatch(request, transfer);
    post({ kind: 'response', id: request.id, ok: true, result }, transfer);
  } catch (error) {
    post({
      kind: 'response',
      id: request.id,
      ok: false,
      error: serializeError(error, request.call),
    });
  }
}

async function dispatch(
  request: RequestMessage,
  transfer: ArrayBuffer[],
): Promise<WorkerCalls[CallName]['result']> {
  switch (request.call) {
    case 'open':
      return open(request as RequestMessage<'open'>);
    case 'wrap':
      return wrap(request as RequestMessage<'wrap'>, transfer);
    case 'unwrap':
      return unwrap(request as RequestMessage<'unwrap'>, transfer);
    case 'wrapMany': {
      const { params } = request as RequestMessage<'wrapMany'>;
      return handleWrapMany(requireConnection(), requireThreads(), params, transfer, log);
    }
    case 'unwrapMany': {
      const { params } = request as RequestMessage<'unwrapMany'>;
      return handleUnwrapMany(requireConnection(), requireThreads(), params, transfer, log);
    }
    case 'inspect': {
      const { keyLabel, ...access } = (request as RequestMessage<'inspect'>).params;
      return inspectToken(access, keyLabel, log);
    }
    case 'keygen': {
      const { keyLabel, ...access } = (request as RequestMessage<'keygen'>).params;
      return generateMasterKey(access, keyLabel, log);
    }
    case 'sign':
      return signWithTokenKey(
        requireConnection(),
        (request as RequestMessage<'sign'>).params,
        transfer,
      );
    case 'verify':
      return verifyWithTokenKey(requireConnection(), (request as RequestMessage<'verify'>).params);
    case 'macKeygen': {
      const { keyLabel, ...access } = (request as RequestMessage<'macKeygen'>).params;
      return generateAuditKey(access, keyLabel, log);
    }
    case 'macInspect': {
      const { keyLabel, ...access } = (request as RequestMessage<'macInspect'>).params;
      return inspectMacKey(access, keyLabel, log);
    }
    case 'close':
      // The connection waits for running batches, so no batch thread uses a session any more when
      // the threads stop.
      await connection?.close((request as RequestMessage<'close'>).params);
      connection = undefined;
      await threads?.terminate();
      threads = undefined;
      return {};
  }
}

function open({ params }: RequestMessage<'open'>): OpenedToken {
  if (connection !== undefined) {
    throw new StrongroomError(
      'SR_INTERNAL',
      'the PKCS#11 worker is open already, but each provider must use its own worker.',
    );
  }

  const { finalizeOnFailure, ...settings } = params;
  const candidate = new TokenConnection(settings, log, (connected) =>
    post({ kind: 'connection', connected }),
  );
  const established = candidate.open(finalizeOnFailure);
  connection = candidate;
  threads = new BatchThreads(settings.library, settings.poolSize, log);
  return {
    slotId: established.slot.id,
    slotIndex: established.slot.index,
    slotDescription: established.slot.description,
    tokenLabel: established.tokenLabel,
    mechanism: established.mechanism,
    keyWrap: established.keyWrap,
    kcv: established.keyCheckValue.kcv,
    kcvSource: established.keyCheckValue.source,
  };
}

async function wrap(
  { params }: RequestMessage<'wrap'>,
  transfer: ArrayBuffer[],
): Promise<WorkerCalls['wrap']['result']> {
  // The DEK arrived in an ArrayBuffer of its own that belongs to the worker, so it is zeroed here.
  const dek = asBuffer(params.dek);
  try {
    const { mechanism, wrapped } = await wrapDek(
      requireConnection(),
      dek,
      asBuffer(params.aad),
      log,
    );
    return { mechanism, wrapped: transferableCopy(wrapped, transfer) };
  } finally {
    dek.fill(0);
  }
}

async function unwrap(
  { params }: RequestMessage<'unwrap'>,
  transfer: ArrayBuffer[],
): Promise<WorkerCalls['unwrap']['result']> {
  const dek = await unwrapDek(
    requireConnection(),
    params.mechanism,
    asBuffer(params.wrapped),
    asBuffer(params.aad),
    log,
  );

  // The DEK moves to the main thread in an ArrayBuffer of its own, transferred rather than
  // cloned, so the worker keeps no copy of it.
  const moved = transferableCopy(dek, transfer);
  dek.fill(0);
  return { dek: moved };
}

function requireConnection(): TokenConnection {
  if (connection === undefined) {
    throw new StrongroomError(
      'SR_HSM_UNAVAILABLE',
      'the HSM master key provider is not open. Call open() first.',
    );
  }
  return connection;
}

function requireThreads(): BatchThreads {
  if (threads === undefined) {
    throw new StrongroomError(
      'SR_HSM_UNAVAILABLE',
      'the HSM master key provider is not open. Call open() first.',
    );
  }
  return threads;
}

function serializeError(error: unknown, call: CallName): SerializedError {
  if (isStrongroomError(error) && error.code in errorRegistry) {
    return { code: error.code, message: error.message, details: error.details };
  }

  const message = error instanceof Error ? error.message : String(error);
  log.error('unexpected error in the PKCS#11 worker', {
    call,
    error: message,
    stack: error instanceof Error ? (error.stack ?? '') : '',
  });
  return {
    code: 'SR_INTERNAL',
    message: `unexpected error in the PKCS#11 worker during ${call}: ${message}`,
    details: { call },
  };
}
