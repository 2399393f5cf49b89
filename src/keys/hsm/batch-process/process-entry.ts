/**
 * Entry point of an HSM batch process. The provider starts these for wrapMany and unwrapMany when
 * strongroom.hsm.batchProcesses is above 0. Each process loads the PKCS#11 module for itself,
 * opens one session, logs in and finds the master key, then runs one chunk of items at a time
 * with blocking calls. A module instance of its own means that the locks which a module takes
 * across all sessions of a process (SoftHSM holds several) do not serialise the processes.
 *
 * It talks to the provider over file descriptor 3 only, and exits when that socket closes, so a
 * provider that ends, even by SIGKILL, leaves no process behind.
 */
import { Socket } from 'node:net';
import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../../errors.js';
import { rebuildItemError, serializeItemError } from '../batch-thread-protocol.js';
import { runChunkItems } from '../chunk-items.js';
import { forwardingHsmLog } from '../hsm-log.js';
import { loginUser } from '../login.js';
import { isConnectionLost } from '../pkcs11-failures.js';
import { finalizeModule, loadModule } from '../pkcs11-module.js';
import { packBytes } from '../protocol.js';
import {
  closeSessions,
  establishConnection,
  logoutQuietly,
  type EstablishedConnection,
} from '../token-setup.js';
import { FrameReader, writeFrame } from './frames.js';
import type { ChunkMessage, FromProcess, OpenMessage, ToProcess } from './messages.js';

const socket = new Socket({ fd: 3, readable: true, writable: true });

function send(message: FromProcess): void {
  writeFrame(socket, message);
}

const log = forwardingHsmLog((level, message, fields) =>
  send({ type: 'log', level, message, fields }),
);

let module: { pkcs11: PKCS11; library: string; connection?: EstablishedConnection } | undefined;
/**
 * Chunks waiting to run, one at a time. Unwraps go first: in a migration they open the wrappings of
 * a page again, so the page can be written while the wraps of later pages still wait.
 */
const waiting: Record<ChunkMessage['items']['kind'], ChunkMessage[]> = { unwrap: [], wrap: [] };
/** The open step and then the chunks, run one after the other. */
let work: Promise<void> = Promise.resolve();
let draining = false;

const reader = new FrameReader((message) => {
  const request = message as ToProcess;
  if (request.type === 'open') {
    work = work.then(() => open(request));
    return;
  }
  waiting[request.items.kind].push(request);
  if (!draining) {
    draining = true;
    work = work.then(drain);
  }
});
socket.on('data', (chunk: Buffer) => reader.push(chunk));
socket.on('close', () => {
  reader.clear();
  void work.finally(() => shutDown(0));
});
socket.on('error', () => undefined);

async function open(request: OpenMessage): Promise<void> {
  try {
    const pkcs11 = loadModule(request.library);
    module = { pkcs11, library: request.library };
    module.connection = establishConnection(
      pkcs11,
      { ...request, poolSize: 1 },
      (session, token) => loginUser(pkcs11, session, request.pin, token, log),
      log,
    );
    const kcv = module.connection.keyCheckValue.kcv;
    if (kcv !== request.kcv) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_MISMATCH',
        `a batch process found check value ${kcv} for the key labelled '${request.keyLabel}', but the provider opened ${request.kcv}: the key on the token was replaced. Restart Strongroom or the migration.`,
      );
    }
    send({ type: 'ready' });
  } catch (error) {
    send({ type: 'openFailed', error: serializeItemError(error) });
    shutDown(1);
  }
}

/**
 * Runs the waiting chunks until none is left. A chunk's PKCS#11 calls block this thread, so the
 * loop yields to the event loop between chunks, which reads the chunks that arrived meanwhile.
 */
async function drain(): Promise<void> {
  for (;;) {
    const next = waiting.unwrap.shift() ?? waiting.wrap.shift();
    if (next === undefined) {
      draining = false;
      return;
    }
    await runChunk(next);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function runChunk(request: ChunkMessage): Promise<void> {
  const connection = module?.connection;
  const session = connection?.sessions[0];
  if (module === undefined || connection === undefined || session === undefined) {
    const stop = serializeItemError(
      new StrongroomError('SR_HSM_UNAVAILABLE', 'the batch process has no open session.'),
    );
    send({ type: 'reply', id: request.id, values: packBytes([], []), errors: [], stop });
    return;
  }

  const outcome = await runChunkItems(module.pkcs11, session, connection, request.items, log);
  // writeFrame serialises the message at once, so the values can be zeroed right after it.
  const values = packBytes(outcome.values, []);
  try {
    send({ type: 'reply', id: request.id, values, errors: outcome.errors, stop: outcome.stop });
  } finally {
    values.bytes.fill(0);
    for (const value of outcome.values) {
      value.fill(0);
    }
    if (request.items.kind === 'wrap') {
      request.items.deks.fill(0);
    }
  }
  if (outcome.stop !== null && isConnectionLost(rebuildItemError(outcome.stop))) {
    // The session is gone. The provider starts a new process for its next chunk.
    shutDown(0);
  }
}

/** Logs out, closes the session and finalises the module, then exits once the socket is flushed. */
function shutDown(code: number): void {
  const current = module;
  module = undefined;
  if (current?.connection !== undefined) {
    const [session] = current.connection.sessions;
    if (session !== undefined) {
      logoutQuietly(current.pkcs11, session, log);
    }
    closeSessions(current.pkcs11, current.connection.sessions, log);
  }
  if (current !== undefined) {
    finalizeModule(current.pkcs11, current.library, log);
  }
  socket.end(() => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}
