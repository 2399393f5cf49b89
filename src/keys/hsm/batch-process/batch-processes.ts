import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { StrongroomError } from '../../../errors.js';
import { rebuildItemError, type ItemError } from '../batch-thread-protocol.js';
import type { ChunkItems } from '../chunk-items.js';
import type { HsmLog } from '../hsm-log.js';
import { unpackBytes } from '../protocol.js';
import { requireBatchProcessFile } from '../worker-path.js';
import { FrameReader, writeFrame } from './frames.js';
import type { FromProcess, OpenMessage, ReplyMessage } from './messages.js';

/** Settings with which a batch process opens the master key, and the check value the provider opened. */
export type BatchProcessSettings = Omit<OpenMessage, 'type'>;

/** The items of a chunk that ran, with their values or errors, and the error that ended it early. */
export interface ProcessReply {
  values: Buffer[];
  errors: Array<ItemError | null>;
  stop: ItemError | null;
}

/** Time that close() gives a process to log out and exit before it is killed. */
const EXIT_WAIT_MS = 5_000;
/**
 * Time that a process may take to start, or to reply to its next chunk while chunks wait, before
 * it is killed. The PKCS#11 worker gives a request as long.
 */
const STALL_MS = 60_000;

interface PendingChunk {
  resolve: (reply: ReplyMessage) => void;
  reject: (error: Error) => void;
}

interface BatchProcess {
  child: ChildProcess;
  socket: Socket;
  /** Settles when the process has logged in and found the key, or has failed to. */
  ready: Promise<void>;
  /** Chunks sent and not yet replied to, by id. The process runs them in the order sent. */
  pending: Map<number, PendingChunk>;
  started: boolean;
  /** Kills the process when it neither starts nor replies within the stall time. */
  watchdog: NodeJS.Timeout | undefined;
  /** The reason Strongroom killed the process, for the error of its chunks. */
  killedBecause: string | undefined;
}

/**
 * Up to `size` batch processes (process-entry.ts), each with a session of its own. start() starts
 * them all and waits until each has found the master key. run() sends a chunk at once to the
 * process with the fewest chunks waiting, so a process never idles while the main thread is busy,
 * for example in a synchronous SQLite call. A process that exits fails its chunks with
 * SR_HSM_UNAVAILABLE, and a later run() starts a new one. So does a process that is killed because
 * it made no progress for `stallMs`, for example in a PKCS#11 call that never returns.
 */
export class BatchProcesses {
  private readonly processes = new Set<BatchProcess>();
  private nextId = 1;
  private closed = false;
  /**
   * Settles when the last process that was sent its open message has started or failed. Each process opens
   * the module only after the one before it, because SoftHSM 2.6 reports no token at all to some
   * of several processes that initialise and log in at the same moment (seen with 8 and more).
   */
  private previousOpen: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: BatchProcessSettings,
    readonly size: number,
    private readonly log: HsmLog,
    private readonly stallMs: number = STALL_MS,
  ) {}

  /** Starts every process. Rejects with the first process's error, and then stops them all. */
  async start(): Promise<void> {
    const started = Array.from({ length: this.size }, () => this.spawn());
    try {
      await Promise.all(started.map((entry) => entry.ready));
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Runs a chunk on the least busy process. */
  async run(items: ChunkItems): Promise<ProcessReply> {
    // The chunk counts as waiting before the first await, so that the shares of one batch, which
    // call run() together, go to different processes.
    const target = this.choose();
    const id = this.nextId++;
    const replied = new Promise<ReplyMessage>((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
    });
    // A process that was idle starts its stall time now. A busy one keeps the time of its last
    // reply, and one that is starting is watched from its open message on.
    if (target.started && target.watchdog === undefined) {
      this.watch(target);
    }
    // When the process fails to start, ready rejects and drop() rejects this chunk as well.
    replied.catch(() => undefined);
    await target.ready;
    writeFrame(target.socket, { type: 'chunk', id, items });
    const reply = await replied;
    return { values: unpackBytes(reply.values), errors: reply.errors, stop: reply.stop };
  }

  /** Ends every process: each logs out and exits when its socket closes, or is killed after 5 s. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.processes].map((entry) => stopProcess(entry)));
  }

  /** Picks the process with the fewest chunks waiting, after starting one for each that ended. */
  private choose(): BatchProcess {
    if (this.closed) {
      throw new StrongroomError('SR_HSM_UNAVAILABLE', 'the HSM master key provider is closed.');
    }
    while (this.processes.size < this.size) {
      this.spawn();
    }
    let chosen: BatchProcess | undefined;
    for (const candidate of this.processes) {
      if (chosen === undefined || candidate.pending.size < chosen.pending.size) {
        chosen = candidate;
      }
    }
    return chosen as BatchProcess;
  }

  private spawn(): BatchProcess {
    // The PIN reaches the process over its socket only, so a PIN in the environment stays out.
    const env = { ...process.env };
    delete env['STRONGROOM_HSM_PIN'];
    const child = spawn(process.execPath, [requireBatchProcessFile()], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env,
    });
    const socket = child.stdio[3] as Socket;
    let settleReady: { resolve: () => void; reject: (error: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      settleReady = { resolve, reject };
    });
    // A failed start is reported through start() or run(), so it must not be unhandled here.
    ready.catch(() => undefined);
    const entry: BatchProcess = {
      child,
      socket,
      ready,
      pending: new Map(),
      started: false,
      watchdog: undefined,
      killedBecause: undefined,
    };
    this.processes.add(entry);

    const reader = new FrameReader((message) => {
      const received = message as FromProcess;
      switch (received.type) {
        case 'log':
          this.log[received.level](received.message, {
            ...received.fields,
            batchProcess: child.pid ?? 0,
          });
          break;
        case 'ready':
          entry.started = true;
          this.watch(entry);
          settleReady?.resolve();
          break;
        case 'openFailed':
          settleReady?.reject(rebuildItemError(received.error));
          break;
        case 'reply':
          entry.pending.get(received.id)?.resolve(received);
          entry.pending.delete(received.id);
          this.watch(entry);
          break;
      }
    });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', () => undefined);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-2_000);
    });
    child.on('error', (error) =>
      this.drop(entry, `could not start: ${error.message}`, settleReady),
    );
    child.on('exit', (code, signal) => {
      reader.clear();
      const how =
        entry.killedBecause ??
        (signal === null ? `exited with code ${code ?? 0}` : `was ended by ${signal}`);
      if (stderr.trim() !== '' && !this.closed) {
        this.log.warn('a PKCS#11 batch process wrote to stderr', { stderr: stderr.trim() });
      }
      this.drop(entry, how, settleReady);
    });

    const previous = this.previousOpen;
    this.previousOpen = ready.catch(() => undefined);
    void previous.then(() => {
      if (entry.child.exitCode === null && entry.child.signalCode === null) {
        writeFrame(socket, { type: 'open', ...this.settings });
        // The start time counts from here, so that a process never times out waiting for its turn.
        this.watch(entry);
      }
    });
    return entry;
  }

  /** Arms the watchdog while the process starts or has chunks waiting, and disarms it otherwise. */
  private watch(entry: BatchProcess): void {
    clearTimeout(entry.watchdog);
    entry.watchdog = undefined;
    if (entry.started && entry.pending.size === 0) {
      return;
    }
    entry.watchdog = setTimeout(() => this.kill(entry), this.stallMs);
  }

  private kill(entry: BatchProcess): void {
    const seconds = this.stallMs / 1000;
    entry.killedBecause = entry.started
      ? `replied to no chunk for ${seconds} s and was killed`
      : `did not start within ${seconds} s and was killed`;
    this.log.warn('a PKCS#11 batch process made no progress, so it is killed', {
      batchProcess: entry.child.pid ?? 0,
      chunks: entry.pending.size,
      stallSeconds: seconds,
    });
    entry.child.kill('SIGKILL');
  }

  /** Removes a process that ended, and fails its start and its chunks. */
  private drop(
    entry: BatchProcess,
    reason: string,
    settleReady: { reject: (error: Error) => void } | undefined,
  ): void {
    clearTimeout(entry.watchdog);
    if (!this.processes.delete(entry)) {
      return;
    }
    const message = `a PKCS#11 batch process ${reason}`;
    const error = new StrongroomError(
      'SR_HSM_UNAVAILABLE',
      `${message}, so the items of its chunks failed. Run the operation again, and check the log for the process's messages if it fails again.`,
    );
    settleReady?.reject(error);
    if (!this.closed) {
      this.log.error(message, { chunks: entry.pending.size });
    }
    for (const chunk of entry.pending.values()) {
      chunk.reject(error);
    }
    entry.pending.clear();
  }
}

async function stopProcess(entry: BatchProcess): Promise<void> {
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  entry.socket.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_WAIT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
