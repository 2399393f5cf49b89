import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { errorRegistry, StrongroomError } from '../../errors.js';
import type { CallName, SerializedError, WorkerCalls, WorkerMessage } from './protocol.js';

/**
 * Maximum time in ms that one request to the worker may take. A hung HSM or network path would
 * otherwise keep a caller waiting forever. It leaves room for C_Login and a reconnection, whose
 * backoff delays add up to about 3 s.
 *
 * NOTE: chosen as a generous bound, not measured on a network HSM. An operation that times out
 * keeps its session in the worker until the HSM call returns.
 */
const REQUEST_TIMEOUT_MS = 60_000;

interface PendingRequest {
  call: CallName;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The main-thread side of the PKCS#11 worker: sends requests with ids, matches the responses,
 * writes the worker's log lines to pino and rebuilds StrongroomErrors from their serialized form.
 * The worker keeps the process alive only while a request is pending.
 */
export class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private stopped: StrongroomError | undefined;
  private terminating = false;

  /** Whether the worker reports a working connection to the token. */
  connected = true;

  constructor(
    workerPath: string,
    private readonly log: Logger,
  ) {
    this.worker = new Worker(pathToFileURL(workerPath));
    this.worker.unref();
    this.worker.on('message', (message: WorkerMessage) => this.receive(message));
    this.worker.on('error', (error) =>
      this.fail(`the PKCS#11 worker thread failed: ${error.message}`, error),
    );
    this.worker.on('exit', (exitCode) =>
      this.fail(`the PKCS#11 worker thread exited with code ${exitCode}`),
    );
  }

  /**
   * Sends one request and resolves with the worker's result, or rejects with its error. The
   * ArrayBuffers in `transfer` move to the worker and are unusable here afterwards.
   */
  call<K extends CallName>(
    call: K,
    params: WorkerCalls[K]['params'],
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerCalls[K]['result']> {
    if (this.stopped !== undefined) {
      return Promise.reject(this.stopped);
    }

    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.timeOut(id), REQUEST_TIMEOUT_MS);
      this.pending.set(id, { call, resolve: resolve as (result: unknown) => void, reject, timer });
      if (this.pending.size === 1) {
        this.worker.ref();
      }
      this.worker.postMessage({ id, call, params }, transfer);
    });
  }

  /** Stops the worker. Pending requests fail with SR_HSM_UNAVAILABLE. */
  async terminate(): Promise<void> {
    this.terminating = true;
    await this.worker.terminate();
  }

  private receive(message: WorkerMessage): void {
    if (message.kind === 'log') {
      this.log[message.level](message.fields, message.message);
      return;
    }
    if (message.kind === 'connection') {
      this.connected = message.connected;
      return;
    }

    const request = this.settle(message.id);
    if (request === undefined) {
      return;
    }
    if (message.ok) {
      request.resolve(message.result);
    } else {
      request.reject(rebuildError(message.error));
    }
  }

  private timeOut(id: number): void {
    const request = this.settle(id);
    if (request === undefined) {
      return;
    }
    this.log.warn({ call: request.call, timeoutMs: REQUEST_TIMEOUT_MS }, 'hsm request timed out');
    request.reject(
      new StrongroomError(
        'SR_HSM_UNAVAILABLE',
        `the HSM did not complete ${request.call} within ${REQUEST_TIMEOUT_MS / 1000} s. Check the HSM and the network path to it.`,
      ),
    );
  }

  private settle(id: number): PendingRequest | undefined {
    const request = this.pending.get(id);
    if (request === undefined) {
      return undefined;
    }
    clearTimeout(request.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) {
      this.worker.unref();
    }
    return request;
  }

  private fail(reason: string, cause?: Error): void {
    this.connected = false;
    if (this.stopped !== undefined) {
      return;
    }

    if (this.terminating) {
      this.stopped = new StrongroomError(
        'SR_HSM_UNAVAILABLE',
        'the HSM master key provider is closed.',
      );
    } else {
      this.stopped = new StrongroomError(
        'SR_HSM_UNAVAILABLE',
        `${reason}. Restart Strongroom to use the HSM again.`,
        {
          ...(cause === undefined ? {} : { cause }),
        },
      );
      this.log.error({ err: cause, pending: this.pending.size }, reason);
    }
    for (const id of [...this.pending.keys()]) {
      this.settle(id)?.reject(this.stopped);
    }
  }
}

/** Rebuilds a StrongroomError that crossed the thread boundary. An unknown code becomes SR_INTERNAL. */
export function rebuildError(error: SerializedError): StrongroomError {
  const code = error.code in errorRegistry ? error.code : 'SR_INTERNAL';
  return new StrongroomError(code, error.message, { details: error.details });
}
