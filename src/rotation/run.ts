import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import { StrongroomError } from '../errors.js';
import { describeKey } from '../keys/keyring.js';
import type { MasterKeyRef } from '../keys/types.js';
import type { DekCount, MigrationCounts, MigrationRunOutcome } from '../store/repositories.js';
import { acquireMigrationLock } from './lock.js';
import { rewrapAll, type RewrapState } from './passes.js';
import { prepareTargetKey, proveSourceKey } from './preflight.js';
import { sameKey } from '../keys/key-ref.js';
import type { MigrationOptions, MigrationProgress, MigrationSummary } from './types.js';
import { VerifiedRows } from './verified-rows.js';
import { verifyTargetDeks, type VerifyResult } from './verify.js';

const DEFAULT_BATCH_SIZE = 500;
const DEFAULT_PAGES_IN_FLIGHT = 8;
/**
 * Minimum rows per page of the verify pass. Its pages write nothing and mostly need no HSM call,
 * so larger pages only save round trips to the database.
 */
const VERIFY_PAGE_ROWS = 5_000;
/**
 * Time between two saves of a running migration's counts in its journal row. A save is one small
 * UPDATE, so twice a second costs little beside the page writes.
 */
const PROGRESS_SAVE_MS = 500;

/**
 * Moves every DEK under the source key to the target key. The run takes the database-wide lock,
 * proves the source key before any write and writes the target's canary. It then re-wraps the rows
 * page by page: one batch call per provider and page, and one transaction per page in which each
 * row is a compare-and-swap on its source reference. So each row is wholly old or wholly new, an
 * interrupted run keeps every page it wrote, and a second run resumes. Sweeps from the start then
 * move DEKs created during the pass. The run ends with a verify pass over the target key, a
 * journal row and a 'key.migrate' audit event. A dry run writes nothing: no rows, canary, journal
 * or audit event.
 */
export async function runDekMigration(options: MigrationOptions): Promise<MigrationSummary> {
  const { store, source, target, logger, dryRun } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const depth = options.pagesInFlight ?? DEFAULT_PAGES_IN_FLIGHT;
  const sourceRef = source.ref();
  const targetRef = target.ref();
  if (sameKey(sourceRef, targetRef)) {
    throw new StrongroomError(
      'SR_DEK_MIGRATION_SOURCE_INVALID',
      `The source and the target are the same key, ${describeKey(sourceRef)}. Configure the key to move to as the target.`,
    );
  }

  const lock = await acquireMigrationLock(store, logger);
  const startedAt = new Date();
  const runId = randomUUID();
  let journalled = false;
  let failed = false;
  const counts: MigrationCounts = { migrated: 0, skipped: 0, unknown: 0, failed: 0 };
  const verified = new VerifiedRows();
  const state: RewrapState = { counts, total: 0, failedIds: new Set(), sweeps: 0, verified };
  let verifyProgress = { phase: 'rewrap' as MigrationProgress['phase'], verifyTotal: 0 };
  const report = (verify: VerifyResult = { verified: 0, failed: 0 }): void => {
    const done = counts.migrated + counts.skipped + counts.unknown + counts.failed;
    state.total = Math.max(state.total, done);
    options.onProgress?.({
      ...counts,
      total: state.total,
      verified: verify.verified,
      verifyFailed: verify.failed,
      ...verifyProgress,
    });
  };

  try {
    await proveSourceKey(source, store.keys, logger);
    await prepareTargetKey(target, store.keys, logger, dryRun);
    const total = await countNotUnder(options, targetRef);
    state.total = total;

    if (!dryRun) {
      await abandonEndedRuns(options, startedAt);
      await store.dekMigrations.insertRun({
        id: runId,
        command: options.command,
        startedAt: startedAt.toISOString(),
        finishedAt: undefined,
        source: sourceRef,
        target: targetRef,
        dryRun,
        ...counts,
        outcome: 'running',
        host: hostname(),
        pid: process.pid,
      });
      journalled = true;
    }
    logger.info(
      { runId, source: sourceRef, target: targetRef, total, dryRun },
      'DEK migration started',
    );

    let savedAt = Date.now();
    const interrupted = await rewrapAll(options, lock, state, {
      batchSize,
      depth,
      onPage: async () => {
        report();
        // A killed run never reaches finishRun, so `dek status` shows the counts saved last.
        if (journalled && Date.now() - savedAt >= PROGRESS_SAVE_MS) {
          savedAt = Date.now();
          await store.dekMigrations.updateRunCounts(runId, counts);
        }
      },
    });
    // Rows moved after the lock was lost stay valid, but without the lock another run may have
    // started, so the run ends here instead of reporting a result.
    await lock.check();
    // One count of the DEKs per key runs beside the verify pass. It gives the pass its total once
    // it arrives, and the summary the DEKs left under the source.
    const keyCounts = store.keys.countDeksByKey();
    keyCounts.catch(() => undefined);
    let verify: VerifyResult = { verified: 0, failed: 0 };
    if (!interrupted) {
      const progress = { phase: 'verify' as const, verifyTotal: 0 };
      verifyProgress = progress;
      keyCounts.then(
        (entries) => {
          progress.verifyTotal = countOf(entries, targetRef);
        },
        () => undefined,
      );
      report();
      verify = await verifyTargetDeks(target, store.keys, {
        batchSize: Math.max(batchSize, VERIFY_PAGE_ROWS),
        depth,
        logger,
        verified,
        onPage: report,
      });
    }
    const remaining = countOf(await keyCounts, sourceRef);

    const outcome: MigrationRunOutcome = interrupted
      ? 'interrupted'
      : counts.failed > 0 || verify.failed > 0
        ? 'failed'
        : 'completed';
    const durationMs = Date.now() - startedAt.getTime();
    const handled = counts.migrated + counts.skipped + counts.unknown + counts.failed;
    const summary: MigrationSummary = {
      runId,
      source: sourceRef,
      target: targetRef,
      dryRun,
      outcome,
      ...counts,
      verified: verify.verified,
      verifyFailed: verify.failed,
      sweeps: state.sweeps,
      remaining,
      durationMs,
      rowsPerSecond: durationMs > 0 ? Math.round((handled * 1000) / durationMs) : handled,
    };

    if (!dryRun) {
      await store.dekMigrations.finishRun(runId, {
        ...counts,
        outcome,
        finishedAt: new Date().toISOString(),
      });
      await recordAudit(options, summary);
    }
    logger.info({ ...summary }, 'DEK migration finished');
    return summary;
  } catch (error) {
    failed = true;
    if (journalled) {
      await store.dekMigrations
        .finishRun(runId, { ...counts, outcome: 'failed', finishedAt: new Date().toISOString() })
        .catch((journalError: unknown) => {
          logger.error({ err: journalError, runId }, 'DEK migration journal could not be updated');
        });
    }
    throw error;
  } finally {
    await lock.release().catch((releaseError: unknown) => {
      // A lock whose connection was ended is already gone on the server, and the error that ended
      // the run is the one to report.
      logger.warn({ err: releaseError, runId }, 'DEK migration lock could not be released');
      if (!failed) {
        throw releaseError;
      }
    });
  }
}

/**
 * Marks the journal rows of runs that ended without finishing, such as killed runs. This run holds
 * the lock and has not written its own row yet, so no run that is still 'running' can be alive.
 */
async function abandonEndedRuns(options: MigrationOptions, now: Date): Promise<void> {
  const abandoned = await options.store.dekMigrations.abandonRunningRuns(now.toISOString());
  if (abandoned > 0) {
    options.logger.info(
      { runs: abandoned },
      'DEK migration runs that ended without finishing are marked abandoned',
    );
  }
}

async function countNotUnder(options: MigrationOptions, targetRef: MasterKeyRef): Promise<number> {
  const counts = await options.store.keys.countDeksByKey();
  return counts
    .filter((entry) => !sameKey(entry.ref, targetRef))
    .reduce((sum, entry) => sum + entry.count, 0);
}

function countOf(counts: readonly DekCount[], ref: MasterKeyRef): number {
  return counts.find((entry) => sameKey(entry.ref, ref))?.count ?? 0;
}

async function recordAudit(options: MigrationOptions, summary: MigrationSummary): Promise<void> {
  await options.audit.record({
    actor: options.actor,
    action: 'key.migrate',
    objectType: 'master_key',
    objectId: `${summary.target.provider}:${summary.target.keyId}`,
    outcome: summary.outcome === 'completed' ? 'success' : 'failure',
    reason: `${options.command} ${summary.outcome}`,
    clientAddress: 'cli',
    details: {
      runId: summary.runId,
      source: `${summary.source.provider}:${summary.source.keyId}:${summary.source.kcv}`,
      target: `${summary.target.provider}:${summary.target.keyId}:${summary.target.kcv}`,
      migrated: summary.migrated,
      skipped: summary.skipped,
      unknown: summary.unknown,
      failed: summary.failed,
      verifyFailed: summary.verifyFailed,
      sweeps: summary.sweeps,
      remaining: summary.remaining,
    },
  });
}
