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
  /** Rows read per page; 200 by default. */
  batchSize?: number;
  /** Unwraps and wraps in flight at once; the HSM session pool size is a good value. */
  concurrency: number;
  /** Stops the run after the rows in flight when aborted. */
  signal?: AbortSignal;
  onProgress?: (progress: MigrationProgress) => void;
}

/** The state of a run after each row. `total` is the number of DEKs not under the target at start. */
export interface MigrationProgress extends MigrationCounts {
  total: number;
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
  durationMs: number;
  /** Rows handled per second, migrated or not. */
  rowsPerSecond: number;
}
