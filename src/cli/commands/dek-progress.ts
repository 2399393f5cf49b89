import cliProgress from 'cli-progress';

import type { MigrationProgress } from '../../rotation/index.js';

/** Milliseconds between progress lines when standard error is not a terminal. */
const LOG_INTERVAL_MS = 5_000;

/** Reports a migration's progress after each page, and ends the report after the run. */
export interface ProgressReporter {
  update(progress: MigrationProgress): void;
  finish(): void;
}

/** Rows handled in the current phase, the phase's total and failures, from a progress report. */
function phaseState(progress: MigrationProgress): { done: number; total: number; failed: number } {
  if (progress.phase === 'verify') {
    return {
      done: progress.verified + progress.verifyFailed,
      total: progress.verifyTotal,
      failed: progress.verifyFailed,
    };
  }
  const done = progress.migrated + progress.skipped + progress.unknown + progress.failed;
  return { done, total: progress.total, failed: progress.failed };
}

/**
 * Creates a progress reporter on `stream`. On a terminal it draws a cli-progress bar with rate and
 * ETA for each phase (re-wrap, then verify). Otherwise it writes a plain line every few seconds and
 * at the end of each phase, for the logs of scripts and systemd units.
 */
export function createProgress(stream: NodeJS.WriteStream): ProgressReporter {
  return stream.isTTY ? createBar(stream) : createLogLines(stream);
}

function createBar(stream: NodeJS.WriteStream): ProgressReporter {
  let bar: cliProgress.SingleBar | undefined;
  let phase: MigrationProgress['phase'] | undefined;
  let phaseStart = Date.now();

  return {
    update(progress) {
      const { done, total, failed } = phaseState(progress);
      if (progress.phase !== phase) {
        bar?.stop();
        phase = progress.phase;
        phaseStart = Date.now();
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${phase === 'rewrap' ? 're-wrap' : 'verify '} [{bar}] {value}/{total} DEKs | {rate} DEKs/s | ETA {eta_text} | failed {failed}`,
            barsize: 30,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.legacy,
        );
        bar.start(Math.max(total, done), 0, { rate: 0, failed: 0, eta_text: '?' });
      }

      const seconds = Math.max(0.001, (Date.now() - phaseStart) / 1000);
      const rate = done / seconds;
      bar?.setTotal(Math.max(total, done));
      bar?.update(done, {
        rate: Math.round(rate),
        failed,
        eta_text: formatEta(total - done, rate),
      });
    },
    finish() {
      bar?.stop();
      bar = undefined;
    },
  };
}

function createLogLines(stream: NodeJS.WriteStream): ProgressReporter {
  let lastLine = 0;
  let phaseStart = Date.now();
  let last: MigrationProgress | undefined;

  const write = (progress: MigrationProgress): void => {
    const { done, total, failed } = phaseState(progress);
    const seconds = Math.max(0.001, (Date.now() - phaseStart) / 1000);
    const rate = done / seconds;
    const eta = rate > 0 ? Math.ceil(Math.max(0, total - done) / rate) : 0;
    const name = progress.phase === 'rewrap' ? 're-wrap' : 'verify';
    stream.write(
      `progress: ${name} ${done}/${total} DEKs, ${Math.round(rate)} DEKs/s, ETA ${eta} s, failed ${failed}\n`,
    );
    lastLine = Date.now();
  };

  return {
    update(progress) {
      if (last !== undefined && last.phase !== progress.phase) {
        // The last line of a phase shows where it ended.
        write(last);
        phaseStart = Date.now();
      }
      last = progress;
      if (Date.now() - lastLine >= LOG_INTERVAL_MS) {
        write(progress);
      }
    },
    finish() {
      if (last !== undefined) {
        write(last);
      }
    },
  };
}

/**
 * Formats the time left for `left` DEKs at `rate` DEKs per second. cli-progress's own ETA showed
 * a broken value for a phase with nothing to do, such as the verify pass of a dry run.
 */
export function formatEta(left: number, rate: number): string {
  if (left <= 0) {
    return '0s';
  }
  if (rate <= 0) {
    return '?';
  }
  const seconds = Math.ceil(left / rate);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
