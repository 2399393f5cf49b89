import type { AuditLog } from '../audit/types.js';
import type { MasterKeyProvider, MasterKeyRef } from '../keys/types.js';
import type { MigrationCounts, MigrationRunOutcome, Store } from '../store/repositories.js';
import type { Logger } from 'pino';

/** The inputs of a DEK migration run. Both providers must be open. */
export interface MigrationOptions {
  store: Store;
  /** The key that wraps the DEKs now. */
  source: MasterKeyProvider;
  /** The key that wraps the DEKs after the run. */
  target: MasterKeyProvider;
  command: 'migrate' | 'renew';
  audit: AuditLog;
  /** The user running the migration, as the audit log records it, for example `os:root`. */
  actor: string;
  logger: Logger;
  /** Does everything but write to the database when true. */
  dryRun: boolean;
  /** Rows read per page, and so rows per batch call and per write transaction; 500 by default. */
  batchSize?: number;
  /**
   * Pages whose provider work runs while an earlier page is written; 8 by default. Each page is one
   * batch call per step, which the HSM provider spreads over its batch processes or sessions.
   */
  pagesInFlight?: number;
  /** Stops the run at a page boundary when aborted: pages in flight are written, no new page is read. */
  signal?: AbortSignal;
  onProgress?: (progress: MigrationProgress) => void;
}

/** The state of a run, reported after each page. */
export interface MigrationProgress extends MigrationCounts {
  /** 'rewrap' while DEKs move, then 'verify' while the verify pass opens them under the target. */
  phase: 'rewrap' | 'verify';
  /**
   * DEKs the re-wrap expects to handle: those not under the target at the start, plus those that
   * later sweeps find under the source.
   */
  total: number;
  verified: number;
  verifyFailed: number;
  /** DEKs under the target key when the verify pass started; 0 before it. */
  verifyTotal: number;
}

/** The result of a run, for the summary, the journal and the audit event. */
export interface MigrationSummary extends MigrationCounts {
  runId: string;
  source: MasterKeyRef;
  target: MasterKeyRef;
  dryRun: boolean;
  outcome: MigrationRunOutcome;
  /** DEKs under the target key that the verify pass opened, and those it could not open. */
  verified: number;
  verifyFailed: number;
  /**
   * Sweeps from the start after the first pass, which move DEKs created during the run with ids
   * below the page the run had reached.
   */
  sweeps: number;
  /**
   * DEKs under the source key when the run ended, failed ones included. More than `failed` means
   * that DEKs were still being created under the source when the last sweep ended.
   */
  remaining: number;
  durationMs: number;
  /** Rows handled per second, migrated or not. */
  rowsPerSecond: number;
}
