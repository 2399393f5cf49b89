import type { MigrationCounts } from '../store/repositories.js';
import type { MigrationLock } from './lock.js';
import { runPagePass, type PageReader } from './pipeline.js';
import { preparePage, writePage, type PreparedPage, type RewrapContext } from './rewrap.js';
import type { MigrationOptions } from './types.js';
import type { VerifiedRows } from './verified-rows.js';

/**
 * Sweeps after the first pass at most. Each sweep moves the DEKs that were created under the source
 * during the previous pass, so a service that keeps creating DEKs under the source could keep the
 * run going forever without a bound.
 */
export const MAX_SWEEPS = 5;

/** The counters that the passes of a run share. */
export interface RewrapState {
  counts: MigrationCounts;
  /** DEKs the run expects to handle, for the progress report. */
  total: number;
  /** Rows under the source that failed, so that a sweep does not try them again. */
  failedIds: Set<string>;
  sweeps: number;
  /** The rows this run wrote, each opened under the target before its write. */
  verified: VerifiedRows;
}

/** Settings of the re-wrap passes. */
export interface PassSettings {
  batchSize: number;
  depth: number;
  /** Runs after each written page, before the next page is written. */
  onPage: () => Promise<void>;
}

/**
 * Moves every row not under the target, page by page in id order. DEKs created during that pass
 * with ids below its page would stay on the source, so unless the run was stopped or is a dry run,
 * it then sweeps the rows still under the source from the start. The sweeps end when one finds no
 * row or after MAX_SWEEPS. Returns true when the signal stopped the run. Checks the lock beside
 * each page write and throws SR_DEK_MIGRATION_LOCK_LOST once the run no longer holds it. The page
 * written meanwhile stays valid, because each of its rows is a compare-and-swap.
 */
export async function rewrapAll(
  options: MigrationOptions,
  lock: MigrationLock,
  state: RewrapState,
  settings: PassSettings,
): Promise<boolean> {
  const { store, source, target, logger } = options;
  const stopped = (): boolean => options.signal?.aborted === true;
  const context: RewrapContext = {
    source,
    target,
    keys: store.keys,
    logger,
    dryRun: options.dryRun,
    verified: state.verified,
  };
  const targetRef = target.ref();
  const sourceRef = source.ref();

  await rewrapPass(
    (after) => store.keys.listDeksNotUnder(targetRef, after, settings.batchSize),
    false,
  );
  if (stopped()) {
    return true;
  }
  if (options.dryRun) {
    // A dry run changes nothing, so a sweep would only find the same rows again.
    return false;
  }

  while (state.sweeps < MAX_SWEEPS) {
    const before = handled(state.counts);
    state.sweeps += 1;
    await rewrapPass(
      (after) => store.keys.listDeksUnder(sourceRef, after, settings.batchSize),
      true,
    );
    const found = handled(state.counts) - before;
    if (stopped()) {
      return true;
    }
    if (found === 0) {
      return false;
    }
    logger.info(
      { sweep: state.sweeps, found },
      'DEK migration sweep found DEKs created during the run',
    );
  }
  logger.warn(
    { sweeps: state.sweeps },
    'DEKs are still being created under the source key; switch the service to the target key and run the migration again',
  );
  return false;

  async function rewrapPass(read: PageReader, sweeping: boolean): Promise<void> {
    await runPagePass({
      // A read that fails because the database ended the connections has most likely ended the
      // lock's session too, and then SR_DEK_MIGRATION_LOCK_LOST is the error to report.
      read: async (after) => {
        try {
          return await read(after);
        } catch (error) {
          await lock.check();
          throw error;
        }
      },
      select: (record) => !state.failedIds.has(record.id),
      prepare: (records) => preparePage(records, context),
      consume: async (prepared) => {
        // The check runs beside the write instead of before it, which saves a round trip per page.
        const lockHeld = lock.check();
        lockHeld.catch(() => undefined);
        const page = await writePageOrFail(prepared);
        for (const id of prepared.failedIds) {
          state.failedIds.add(id);
        }
        add(state.counts, page);
        if (sweeping) {
          state.total += handled(page);
        }
        await lockHeld;
        await settings.onPage();
      },
      depth: settings.depth,
      stopped,
    });
  }

  /**
   * Writes a page. When the transaction fails, nothing of the page was written: a lost lock ends
   * the run with SR_DEK_MIGRATION_LOCK_LOST, and any other error counts the page's rows as failed,
   * so that the run goes on and a later run retries them.
   */
  async function writePageOrFail(prepared: PreparedPage): Promise<MigrationCounts> {
    try {
      return await writePage(prepared, context);
    } catch (error) {
      await lock.check();
      const dekIds = prepared.rows.map((row) => row.id);
      logger.error(
        { err: error, dekIds },
        'DEK page could not be written; its DEKs stay unchanged',
      );
      prepared.failedIds.push(...dekIds);
      return { ...prepared.counts, failed: prepared.counts.failed + dekIds.length };
    }
  }
}

function handled(counts: MigrationCounts): number {
  return counts.migrated + counts.skipped + counts.unknown + counts.failed;
}

function add(sum: MigrationCounts, page: MigrationCounts): void {
  sum.migrated += page.migrated;
  sum.skipped += page.skipped;
  sum.unknown += page.unknown;
  sum.failed += page.failed;
}
