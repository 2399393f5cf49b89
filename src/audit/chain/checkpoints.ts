import type { Logger } from 'pino';

import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { AuditCheckpointRecord, AuditRepository } from '../../store/repositories.js';
import { encodeCheckpoint } from './encoding.js';

export interface CheckpointWriterOptions {
  /** Write a checkpoint once this many events were appended since the last one. */
  events: number;
  /** Also write one every this many seconds when events were appended since; 0 turns this off. */
  seconds: number;
  now?: () => Date;
}

type CheckpointRepository = Pick<
  AuditRepository,
  'readChainHead' | 'insertCheckpoint' | 'latestCheckpoint'
>;

/**
 * Writes MAC'd checkpoints over the audit chain head: after every `events` appends by this
 * process and on a timer. Several service nodes each write their own; a duplicate is harmless.
 * A failed checkpoint is logged at error and does not reject the event that triggered it,
 * because the event itself is stored and chained. After a failure, events stop waiting for the
 * next attempt until one succeeds. With the HSM down, an attempt lasts as long as the provider's
 * reconnection backoff, and reveals served from the DEK cache must not wait that long.
 */
export class CheckpointWriter {
  readonly #repository: CheckpointRepository;
  readonly #key: CheckpointMacKey;
  readonly #logger: Logger;
  readonly #options: CheckpointWriterOptions;
  #lastSeq = 0;
  #writing: Promise<void> | undefined;
  /** Whether the last attempt failed, so that events do not wait for the next one. */
  #failing = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    repository: CheckpointRepository,
    key: CheckpointMacKey,
    logger: Logger,
    options: CheckpointWriterOptions,
  ) {
    this.#repository = repository;
    this.#key = key;
    this.#logger = logger;
    this.#options = options;
  }

  /** Reads the last checkpoint and starts the timer. */
  async start(): Promise<void> {
    this.#lastSeq = (await this.#repository.latestCheckpoint())?.eventSeq ?? 0;
    if (this.#options.seconds > 0) {
      this.#timer = setInterval(() => void this.writeIfAdvanced(), this.#options.seconds * 1000);
      this.#timer.unref();
    }
  }

  /**
   * Writes a checkpoint when `seq` is at least `events` past the last one. Resolves when it is
   * written, or at once while checkpoints are failing, when the attempt runs in the background.
   */
  async noteAppended(seq: number): Promise<void> {
    if (seq - this.#lastSeq < this.#options.events) {
      return;
    }
    const writing = this.writeIfAdvanced();
    if (!this.#failing) {
      await writing;
    }
  }

  /** Writes a checkpoint over the current head unless the last one covers it already. */
  writeIfAdvanced(): Promise<void> {
    this.#writing ??= this.#write()
      .then(() => {
        this.#failing = false;
      })
      .catch((error: unknown) => {
        this.#failing = true;
        this.#logger.error(
          { err: error, keyId: this.#key.keyId, lastCheckpointSeq: this.#lastSeq },
          'audit checkpoint could not be written',
        );
      })
      .finally(() => {
        this.#writing = undefined;
      });
    return this.#writing;
  }

  /**
   * Stops the timer, waits for a checkpoint in progress and writes a last one over the head, so
   * that a clean shutdown leaves every event of this process checkpointed.
   */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#writing;
    await this.writeIfAdvanced();
  }

  async #write(): Promise<void> {
    const head = await this.#repository.readChainHead();
    if (head.seq <= this.#lastSeq) {
      return;
    }
    const checkpoint = await createCheckpoint(
      this.#key,
      head,
      (this.#options.now ?? (() => new Date()))(),
    );
    const id = await this.#repository.insertCheckpoint(checkpoint);
    this.#lastSeq = head.seq;
    this.#logger.info(
      { checkpointId: id, eventSeq: head.seq, keyId: this.#key.keyId },
      'audit checkpoint written',
    );
  }
}

/** MACs a checkpoint over a chain head with the key. */
export async function createCheckpoint(
  key: CheckpointMacKey,
  head: { seq: number; hash: string },
  now: Date,
): Promise<Omit<AuditCheckpointRecord, 'id'>> {
  const fields = {
    eventSeq: head.seq,
    headHash: head.hash,
    createdAt: now.toISOString(),
    provider: key.provider,
    keyId: key.keyId,
    algorithm: key.algorithm,
  };
  const mac = await key.sign(encodeCheckpoint(fields));
  return { ...fields, mac: mac.toString('hex') };
}
