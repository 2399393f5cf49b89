import { Worker } from 'node:worker_threads';
import { StrongroomError } from '../../errors.js';
import type { BatchThreadMessage, ChunkFields, ChunkReply } from './batch-thread-protocol.js';
import type { HsmLog } from './hsm-log.js';
import { resolveBatchThreadPath } from './worker-path.js';

interface BatchThread {
  worker: Worker;
  /** The chunk that the thread runs, if any. A thread runs one chunk at a time. */
  current:
    | { id: number; resolve: (reply: ChunkReply) => void; reject: (error: Error) => void }
    | undefined;
}

/**
 * The PKCS#11 worker's batch threads (pkcs11-batch-thread.ts), started on the first batch and
 * never more than `size`. run() hands a chunk to an idle thread, and waits for one when all are
 * busy. The worker gives it one chunk per borrowed session, so with `size` equal to the session
 * pool's size no chunk waits for a thread.
 */
export class BatchThreads {
  private readonly threads = new Set<BatchThread>();
  private idle: BatchThread[] = [];
  private readonly waiters: Array<(thread: BatchThread) => void> = [];
  private nextId = 1;
  private terminated = false;
  /**
   * False once a thread found the module not initialised in its own instance while the worker's
   * instance works. Some modules, such as p11-kit-client.so, give each C_GetFunctionList caller a
   * module of its own, so their sessions cannot be lent to a thread, and batches then run in the
   * worker.
   */
  sharesModule = true;

  constructor(
    private readonly library: string,
    private readonly size: number,
    private readonly log: HsmLog,
  ) {}

  /** Logs once that batches run in the worker because the module is not shared between threads. */
  warnNotShared(): void {
    this.log.warn(
      'the PKCS#11 module gives each thread an instance of its own, so batches run in the worker thread',
      { library: this.library },
    );
  }

  /**
   * Runs a chunk on a batch thread. The ArrayBuffers in `transfer` move to the thread. Rejects
   * with SR_HSM_UNAVAILABLE when the thread fails or exits before it replies.
   */
  async run(chunk: ChunkFields, transfer: ArrayBuffer[]): Promise<ChunkReply> {
    const thread = await this.acquire();
    try {
      return await new Promise<ChunkReply>((resolve, reject) => {
        const id = this.nextId++;
        thread.current = { id, resolve, reject };
        thread.worker.postMessage({ ...chunk, id }, transfer);
      });
    } finally {
      thread.current = undefined;
      this.release(thread);
    }
  }

  /** Stops every thread. Call it only when no chunk runs, after the connection has closed. */
  async terminate(): Promise<void> {
    this.terminated = true;
    const threads = [...this.threads];
    this.threads.clear();
    this.idle = [];
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  private acquire(): Promise<BatchThread> {
    if (this.terminated) {
      return Promise.reject(
        new StrongroomError('SR_HSM_UNAVAILABLE', 'the HSM master key provider is closed.'),
      );
    }
    const thread = this.idle.pop() ?? (this.threads.size < this.size ? this.start() : undefined);
    if (thread !== undefined) {
      return Promise.resolve(thread);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(thread: BatchThread): void {
    if (!this.threads.has(thread)) {
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter(thread);
    } else {
      this.idle.push(thread);
    }
  }

  private start(): BatchThread {
    const worker = new Worker(resolveBatchThreadPath(), {
      workerData: { library: this.library },
    });
    const thread: BatchThread = { worker, current: undefined };
    this.threads.add(thread);

    worker.on('message', (message: BatchThreadMessage) => {
      if (message.kind === 'log') {
        this.log[message.level](message.message, message.fields);
      } else if (thread.current?.id === message.id) {
        thread.current.resolve(message);
      }
    });
    worker.on('error', (error) => this.drop(thread, `failed: ${error.message}`));
    worker.on('exit', (exitCode) => this.drop(thread, `exited with code ${exitCode}`));
    return thread;
  }

  /** Removes a thread that failed or exited, and fails its chunk. A later run() starts a new one. */
  private drop(thread: BatchThread, reason: string): void {
    if (!this.threads.delete(thread)) {
      return;
    }
    this.idle = this.idle.filter((entry) => entry !== thread);
    const message = `a PKCS#11 batch thread ${reason}`;
    this.log.error(message, { running: thread.current !== undefined });
    thread.current?.reject(
      new StrongroomError(
        'SR_HSM_UNAVAILABLE',
        `${message}, so the items of its chunk failed. Run the operation again, and check the log for the thread's error if it fails again.`,
      ),
    );
    // A waiter would otherwise wait for a thread that no longer comes back.
    const waiter = this.waiters.shift();
    if (waiter !== undefined && !this.terminated) {
      waiter(this.start());
    }
  }
}
