import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import { StrongroomError } from '../errors.js';
import { describeKey } from '../keys/keyring.js';
import type { MasterKeyRef } from '../keys/types.js';
import type { MigrationCounts, MigrationRunOutcome } from '../store/repositories.js';
import { forEachConcurrent } from './concurrency.js';
import { acquireMigrationLock, type MigrationLock } from './lock.js';
import { prepareTargetKey, proveSourceKey } from './preflight.js';
import { rewrapRow, sameKey } from './rewrap.js';
import type { MigrationOptions, MigrationSummary } from './types.js';
import { verifyTargetDeks } from './verify.js';

const DEFAULT_BATCH_SIZE = 200;

/**
 * Moves every DEK under the source key to the target key. The run takes the database-wide lock,
 * proves the source key before any write and writes the target's canary. It then re-wraps the rows
 * page by page, each in its own compare-and-swap, so an interrupted run keeps what it did and a
 * second run resumes. It ends with a verify pass over the target key, a journal row and a 'key.migrate'
 * audit event. A dry run writes nothing: no rows, canary, journal or audit event.
 */
export async function runDekMigration(options: MigrationOptions): Promise<MigrationSummary> {
  const { store, source, target, logger, dryRun } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
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

  try {
    await proveSourceKey(source, store.keys, logger);
    await prepareTargetKey(target, store.keys, logger, dryRun);
    const total = await countNotUnder(options, targetRef);

    if (!dryRun) {
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

    const interrupted = await rewrapAll(options, lock, counts, total, batchSize);
    // Rows moved after the lock was lost stay valid, but without the lock another run may have
    // started, so the run ends here instead of reporting a result.
    await lock.check();
    const verify = interrupted
      ? { verified: 0, failed: 0 }
      : await verifyTargetDeks(target, store.keys, {
          batchSize,
          concurrency: options.concurrency,
          logger,
        });

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
 * Re-wraps every row not under the target. Returns true when the signal stopped the run. Throws
 * SR_DEK_MIGRATION_LOCK_LOST before a page when the run no longer holds the lock.
 */
async function rewrapAll(
  options: MigrationOptions,
  lock: MigrationLock,
  counts: MigrationCounts,
  total: number,
  batchSize: number,
): Promise<boolean> {
  const { store, target, signal } = options;
  const targetRef = target.ref();
  const stopped = (): boolean => signal?.aborted === true;
  let after: string | undefined;

  while (!stopped()) {
    await lock.check();
    const page = await store.keys.listDeksNotUnder(targetRef, after, batchSize);
    if (page.length === 0) {
      return false;
    }

    await forEachConcurrent(
      page,
      options.concurrency,
      async (record) => {
        const result = await rewrapRow(record, {
          source: options.source,
          target,
          keys: store.keys,
          logger: options.logger,
          dryRun: options.dryRun,
        });
        counts[result] += 1;
        options.onProgress?.({ ...counts, total });
      },
      stopped,
    );
    after = page.at(-1)?.id;
  }
  options.logger.warn({ ...counts }, 'DEK migration interrupted, run it again to resume');
  return true;
}

async function countNotUnder(options: MigrationOptions, targetRef: MasterKeyRef): Promise<number> {
  const counts = await options.store.keys.countDeksByKey();
  return counts
    .filter((entry) => !sameKey(entry.ref, targetRef))
    .reduce((sum, entry) => sum + entry.count, 0);
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
    },
  });
}
