import type { RolloverResult } from '../../audit/chain/rollover.js';
import { describeKey } from '../../keys/keyring.js';
import { sameKey } from '../../keys/key-ref.js';
import type { MasterKeyRef } from '../../keys/types.js';
import type { MigrationSummary } from '../../rotation/index.js';
import type { DekCount, MigrationRunRecord } from '../../store/index.js';

/** Formats DEK counts per master key, one line each, marking the source and the target. */
export function formatCounts(
  counts: DekCount[],
  marks: { source?: MasterKeyRef; target?: MasterKeyRef } = {},
): string {
  if (counts.length === 0) {
    return '  (no DEKs)\n';
  }
  return counts
    .map((entry) => {
      const mark =
        marks.source !== undefined && sameKey(entry.ref, marks.source)
          ? '  <- source'
          : marks.target !== undefined && sameKey(entry.ref, marks.target)
            ? '  <- target'
            : '';
      return `  ${String(entry.count).padStart(8)}  ${describeKey(entry.ref)}${mark}\n`;
    })
    .join('');
}

/** Returns the number of DEKs in `counts`, over all keys. */
export function totalDeks(counts: DekCount[]): number {
  return counts.reduce((sum, entry) => sum + entry.count, 0);
}

/**
 * Formats the journal rows for `dek status`. A running migration saves its counts every 0.5 s, so
 * the counts of a run that is still running, or was killed and then abandoned, are a lower bound.
 */
export function formatRuns(runs: MigrationRunRecord[]): string {
  if (runs.length === 0) {
    return '  (no runs)\n';
  }
  return runs
    .map((run) => {
      const saved =
        run.outcome === 'abandoned' || run.outcome === 'running'
          ? ' as last saved; the run may have done more'
          : '';
      return `  ${run.startedAt}  ${run.command} ${run.source.provider} -> ${run.target.provider}  ${run.outcome}  migrated ${run.migrated}, skipped ${run.skipped}, unknown ${run.unknown}, failed ${run.failed}${saved}  (host ${run.host}, pid ${run.pid})\n`;
    })
    .join('');
}

/** Formats the end-of-run summary. */
export function formatSummary(summary: MigrationSummary): string {
  const seconds = (summary.durationMs / 1000).toFixed(1);
  const lines = [
    `${summary.dryRun ? 'Dry run ' : 'Migration '}${summary.outcome}: ${describeKey(summary.source)} -> ${describeKey(summary.target)}`,
    `  migrated  ${summary.migrated}${summary.dryRun ? ' (would be; nothing was written)' : ''}`,
    `  skipped   ${summary.skipped} (changed by another process during the run)`,
    `  unknown   ${summary.unknown} (under neither key; left untouched)`,
    `  failed    ${summary.failed}`,
    `  verified  ${summary.verified} DEKs open under the target, ${summary.verifyFailed} do not`,
    `  sweeps    ${summary.sweeps} (passes from the start for DEKs created during the run)`,
    `  remaining ${summary.remaining} DEKs under the source key, failed ones included`,
    `  duration  ${seconds} s, ${summary.rowsPerSecond} DEKs/s`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Formats the audit key rollover line that follows a run's summary. */
export function formatRollover(rollover: RolloverResult): string {
  const start = `Audit key rollover ${rollover.rolloverId} at seq ${rollover.eventSeq}`;
  if (!rollover.vouches) {
    return `${start}: it vouches for no earlier checkpoint, because verification found ${rollover.findings} fault(s). Run 'strongroom audit verify' for the details.\n`;
  }
  const vouched =
    rollover.vouchedCheckpointId > 0
      ? `it vouches for checkpoints up to id ${rollover.vouchedCheckpointId}`
      : 'there was no earlier checkpoint to vouch for';
  const faults =
    rollover.findings > 0
      ? ` Verification found ${rollover.findings} fault(s) in the events. Run 'strongroom audit verify' for the details.`
      : '';
  return `${start}: ${vouched}.${faults}\n`;
}

/** Writes a run's summary, and the rollover when one was written, as text or as one JSON object. */
export function writeRunResult(
  summary: MigrationSummary,
  rollover: RolloverResult | undefined,
  json: boolean,
): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...summary, auditKeyRollover: rollover ?? null })}\n`);
    return;
  }
  process.stdout.write(formatSummary(summary));
  if (rollover !== undefined) {
    process.stdout.write(formatRollover(rollover));
  }
}
