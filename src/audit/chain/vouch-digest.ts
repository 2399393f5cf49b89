import { createHash } from 'node:crypto';

import type { AuditCheckpointRecord, AuditKeyRolloverRecord } from '../../store/repositories.js';
import { encodeFields } from './encoding.js';

/** Domain-separation prefixes of the rows that a key rollover vouches for, and of its digest. */
const VOUCHED_PREFIX = 'strongroom.audit.vouched.v1\n';
const CHECKPOINT_ROW_PREFIX = 'strongroom.audit.checkpoint-row.v1\n';
const ROLLOVER_ROW_PREFIX = 'strongroom.audit.rollover-row.v1\n';

/** Encodes a stored checkpoint row, its id and MAC included, so that any change alters the digest. */
function encodeCheckpointRow(checkpoint: AuditCheckpointRecord): Buffer {
  return encodeFields(CHECKPOINT_ROW_PREFIX, [
    String(checkpoint.id),
    String(checkpoint.eventSeq),
    checkpoint.headHash,
    checkpoint.createdAt,
    checkpoint.provider,
    checkpoint.keyId,
    checkpoint.algorithm,
    checkpoint.mac,
  ]);
}

function encodeRolloverRow(rollover: AuditKeyRolloverRecord): Buffer {
  return encodeFields(ROLLOVER_ROW_PREFIX, [
    String(rollover.id),
    String(rollover.eventSeq),
    rollover.headHash,
    rollover.createdAt,
    rollover.oldProvider,
    rollover.oldKeyId,
    rollover.oldAlgorithm,
    rollover.newProvider,
    rollover.newKeyId,
    rollover.newAlgorithm,
    String(rollover.vouchedCheckpointId),
    String(rollover.vouchedRolloverId),
    rollover.vouchedDigest,
    rollover.oldMac,
    rollover.newMac,
  ]);
}

/**
 * Hashes the checkpoint rows with SHA-256 in id order, in one pass, and keeps the digest over the
 * rows up to each id asked for in the constructor. Every rollover names such an id.
 */
export class CheckpointDigests {
  readonly #hash = createHash('sha256');
  readonly #pending: number[];
  readonly #digests = new Map<number, string>();
  #lastId = 0;

  constructor(throughIds: Iterable<number>) {
    this.#pending = [...new Set(throughIds)].sort((a, b) => a - b);
  }

  /** Adds the next checkpoint row. Rows must arrive in ascending id order. */
  add(checkpoint: AuditCheckpointRecord): void {
    this.#settleBelow(checkpoint.id);
    this.#hash.update(encodeCheckpointRow(checkpoint));
    this.#lastId = checkpoint.id;
  }

  /** The id of the last row added, or 0 when none was. */
  get lastId(): number {
    return this.#lastId;
  }

  /**
   * Returns the digest over the rows with ids up to `throughId`. Call it after the last row was
   * added, and only with an id given to the constructor or the last id added.
   */
  through(throughId: number): string {
    this.#settleBelow(Infinity);
    const digest = this.#digests.get(throughId);
    if (digest !== undefined) {
      return digest;
    }
    if (throughId !== this.#lastId) {
      throw new RangeError(`no checkpoint digest was kept for id ${throughId}`);
    }
    return this.#hash.copy().digest('hex');
  }

  #settleBelow(id: number): void {
    while (this.#pending.length > 0 && (this.#pending[0] as number) < id) {
      this.#digests.set(this.#pending.shift() as number, this.#hash.copy().digest('hex'));
    }
  }
}

/**
 * Computes the digest that a rollover stores: SHA-256 over its prefix, the last checkpoint id and
 * the digest of the checkpoint rows up to it, and the last rollover id and the digest of the
 * rollover rows up to it. A row changed, added or deleted within those ids changes the digest.
 */
export function vouchedDigest(
  checkpointId: number,
  checkpointDigest: string,
  rolloverId: number,
  rollovers: readonly AuditKeyRolloverRecord[],
): string {
  const rolloverHash = createHash('sha256');
  for (const rollover of rollovers) {
    if (rollover.id <= rolloverId) {
      rolloverHash.update(encodeRolloverRow(rollover));
    }
  }
  const encoded = encodeFields(VOUCHED_PREFIX, [
    String(checkpointId),
    checkpointDigest,
    String(rolloverId),
    rolloverHash.digest('hex'),
  ]);
  return createHash('sha256').update(encoded).digest('hex');
}
