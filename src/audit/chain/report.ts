import type { AuditCheckpointRecord } from '../../store/repositories.js';

/** The kinds of fault that `audit verify` reports. */
export type ChainFindingKind =
  | 'changed'
  | 'deleted'
  | 'inserted'
  | 'truncated'
  | 'rewritten'
  | 'checkpoint-forged'
  | 'checkpoint-key-unavailable';

/** One fault, named by the first seq it concerns (and the last, for a range). */
export interface ChainFinding {
  kind: ChainFindingKind;
  seq: number;
  lastSeq?: number;
  checkpointId?: number;
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
