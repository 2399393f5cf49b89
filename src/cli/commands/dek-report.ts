import { describeKey } from '../../keys/keyring.js';
import type { MasterKeyRef } from '../../keys/types.js';
import type { MigrationProgress, MigrationSummary } from '../../rotation/index.js';
import type { DekCount, MigrationRunRecord } from '../../store/index.js';

/** Milliseconds between progress lines when standard error is not a terminal. */
const LOG_INTERVAL_MS = 5_000;
const BAR_WIDTH = 30;

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
        marks.source !== undefined && sameRef(entry.ref, marks.source)
          ? '  <- source'
          : marks.target !== undefined && sameRef(entry.ref, marks.target)
            ? '  <- target'
            : '';
      return `  ${String(entry.count).padStart(8)}  ${describeKey(entry.ref)}${mark}\n`;
    })
    .join('');
}

/** Formats the journal rows for `dek status`. */
export function formatRuns(runs: MigrationRunRecord[]): string {
  if (runs.length === 0) {
    return '  (no runs)\n';
  }
  return runs
    .map(
      (run) =>
        `  ${run.startedAt}  ${run.command} ${run.source.provider} -> ${run.target.provider}  ${run.outcome}  migrated ${run.migrated}, skipped ${run.skipped}, unknown ${run.unknown}, failed ${run.failed}  (${run.host} pid ${run.pid})\n`,
    )
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
    `  duration  ${seconds} s, ${summary.rowsPerSecond} DEKs/s`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Creates a progress reporter on standard error: a bar with rate and ETA on a terminal, and a
 * plain line every few seconds otherwise, for logs of scripts and systemd units.
 */
export function createProgress(stream: NodeJS.WriteStream): {
  update(progress: MigrationProgress): void;
  finish(): void;
} {
  const startedAt = Date.now();
  let lastLine = 0;
  let drawn = false;

  return {
    update(progress) {
      const done = progress.migrated + progress.skipped + progress.unknown + progress.failed;
      const elapsed = Math.max(1, Date.now() - startedAt);
      const rate = (done * 1000) / elapsed;
      const remaining = rate > 0 ? Math.ceil((progress.total - done) / rate) : 0;
      const text = `${done}/${progress.total} DEKs, ${Math.round(rate)} DEKs/s, ETA ${remaining} s, failed ${progress.failed}`;

      if (stream.isTTY) {
        const filled = progress.total > 0 ? Math.round((done / progress.total) * BAR_WIDTH) : 0;
        const bar = '#'.repeat(Math.min(BAR_WIDTH, filled)).padEnd(BAR_WIDTH, '.');
        stream.write(`\r[${bar}] ${text}`);
        drawn = true;
        return;
      }
      if (Date.now() - lastLine >= LOG_INTERVAL_MS) {
        lastLine = Date.now();
        stream.write(`progress: ${text}\n`);
      }
    },
    finish() {
      if (drawn) {
        stream.write('\n');
      }
    },
  };
}

function sameRef(left: MasterKeyRef, right: MasterKeyRef): boolean {
  return left.provider === right.provider && left.keyId === right.keyId && left.kcv === right.kcv;
}
