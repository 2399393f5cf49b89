import type { AuditCheckpointRecord } from '../../store/repositories.js';

/** The kinds of fault that `audit verify` reports. */
export type ChainFindingKind =
  | 'changed'
  | 'deleted'
  | 'inserted'
  | 'truncated'
  | 'rewritten'
  | 'checkpoint-forged'
  | 'checkpoint-key-unavailable'
  | 'rollover-forged'
  | 'rollover-key-unavailable'
  | 'rollover-mismatch';

/** One fault, named by the first seq it concerns (and the last, for a range). */
export interface ChainFinding {
  kind: ChainFindingKind;
  seq: number;
  lastSeq?: number;
  checkpointId?: number;
  /** The key rollover that the finding concerns. */
  rolloverId?: number;
  message: string;
}

/** A checkpoint as reports show it, without its MAC. */
export interface CheckpointSummary {
  id: number;
  eventSeq: number;
  createdAt: string;
  provider: string;
  keyId: string;
  algorithm: string;
  macValid: boolean;
  /** Set when the checkpoint's key is retired and a key rollover vouches for the checkpoint. */
  vouchedByRolloverId?: number;
}

/**
 * How a key rollover was checked. It is `verified` when the old or the new key verified its MAC,
 * and `vouched` when neither key is available but a later verified rollover vouches for it. It
 * is `forged` when an available key rejects a MAC, and `key-unavailable` otherwise.
 */
export type RolloverStatus = 'verified' | 'vouched' | 'forged' | 'key-unavailable';

/** A key rollover as reports show it, without its MACs. */
export interface RolloverSummary {
  id: number;
  eventSeq: number;
  createdAt: string;
  oldProvider: string;
  oldKeyId: string;
  newProvider: string;
  newKeyId: string;
  status: RolloverStatus;
  /** The last checkpoint id and earlier rollover id that the rollover vouches for, or 0 for none. */
  vouchedCheckpointId: number;
  vouchedRolloverId: number;
  /** False when the rows it vouches for were changed, added or deleted after it was written. */
  digestMatches: boolean;
}

/** Checkpoints made by a retired key that is not available, and the rollover that vouches for them. */
export interface RetiredKeySummary {
  provider: string;
  keyId: string;
  checkpointCount: number;
  firstSeq: number;
  lastSeq: number;
  rolloverId: number;
  rolloverSeq: number;
  message: string;
}

/** The outcome of verifying the audit chain. */
export interface ChainReport {
  /** True only when no finding was made. */
  intact: boolean;
  eventCount: number;
  lastEventSeq: number;
  /** The seq that the chain head row records. */
  headSeq: number;
  /** The events up to this seq are intact; the first finding about events comes after it. */
  verifiedThroughSeq: number;
  /** The last seq that a checkpoint with a valid MAC covers within the intact part. */
  checkpointedThroughSeq: number;
  checkpointCount: number;
  lastCheckpoint: CheckpointSummary | null;
  findings: ChainFinding[];
  /** Findings beyond the report's limit, counted but not listed. */
  findingsOmitted: number;
  /** Every key rollover, oldest first. */
  rollovers: RolloverSummary[];
  /** Checkpoints that are not findings because a rollover vouches for them, per retired key. */
  retiredKeys: RetiredKeySummary[];
}

export function describeCheckpoint(
  checkpoint: AuditCheckpointRecord,
  macValid: boolean,
): CheckpointSummary {
  return {
    id: checkpoint.id,
    eventSeq: checkpoint.eventSeq,
    createdAt: checkpoint.createdAt,
    provider: checkpoint.provider,
    keyId: checkpoint.keyId,
    algorithm: checkpoint.algorithm,
    macValid,
  };
}
