import { join } from 'node:path';
import type { Logger } from 'pino';
import { createAuditLog } from '../audit/index.js';
import { DekCache } from '../keys/dek-cache.js';
import { createFileProvider } from '../keys/file/file-provider.js';
import { createHsmProvider } from '../keys/hsm/index.js';
import { Keyring } from '../keys/keyring.js';
import type { MasterKeyProvider } from '../keys/types.js';
import { runDekMigration } from '../rotation/index.js';
import { openStore } from '../store/index.js';
import { seedDeks } from './dek-seed.js';
import type { BenchToken } from './hsm-measurements.js';
import type { TimedRun } from './timing.js';

/**
 * HSM sessions in the target provider's pool. SoftHSM computes on this machine's CPUs, so more
 * sessions than the 2 CPUs only made them compete for the CPUs in trials.
 */
const POOL_SIZE = 2;
/**
 * Processes that run the batch calls, each with a SoftHSM instance and a session of its own: the
 * default of strongroom.hsm.batchProcesses on 2 CPUs, which `dek migrate` uses.
 */
export const BATCH_PROCESSES = 2;
/** runDekMigration's defaults, passed explicitly so that the page states what ran. */
export const PAGE_SIZE = 500;
export const PAGES_IN_FLIGHT = 8;

/** Folders and keys that every migration run of the benchmark shares. */
export interface MigrationSetup {
  directory: string;
  keyFile: string;
  token: BenchToken;
  logger: Logger;
}

/** One timed migration: its rate, and the seconds until the last row was re-wrapped. */
export interface TimedMigration {
  run: TimedRun;
  /** Seconds from the start until the last row was re-wrapped. The rest is mostly the verify pass. */
  rewrapSeconds: number;
}

/** Creates the HSM provider that the migrations move DEKs to, with its batch processes. */
export function createTargetProvider(setup: MigrationSetup): MasterKeyProvider {
  return createHsmProvider({
    library: setup.token.library,
    slot: { by: 'tokenLabel', label: setup.token.tokenLabel },
    keyLabel: setup.token.keyLabel,
    pin: setup.token.pin,
    poolSize: POOL_SIZE,
    batchProcesses: BATCH_PROCESSES,
    logger: setup.logger,
  });
}

/**
 * Seeds `count` DEKs under the file key into a new database at `url`, then times one
 * runDekMigration from the file key to `target`, which includes its verify pass. `target` must be
 * open. The seeding is not timed.
 */
export async function timeMigration(
  setup: MigrationSetup,
  target: MasterKeyProvider,
  url: string,
  count: number,
): Promise<TimedMigration> {
  const { logger } = setup;
  // The migration lock may hold a PostgreSQL connection of its own beside the page reads and writes.
  const store = await openStore(url, {
    baseDir: setup.directory,
    logger,
    poolSize: POOL_SIZE + 2,
  });
  const source = createFileProvider({ path: setup.keyFile });

  try {
    await source.open();
    // The service writes the canary of its active key at startup, and the migration proves the
    // source key against it.
    const keyring = new Keyring({
      active: source,
      secondary: undefined,
      keys: store.keys,
      cache: new DekCache(0, 0),
      logger,
    });
    await keyring.verifyCanaries();
    await seedDeks(url, setup.directory, source, count, logger);

    const start = process.hrtime.bigint();
    let rewrapEnd = start;
    const summary = await runDekMigration({
      store,
      source,
      target,
      command: 'migrate',
      audit: createAuditLog(store, logger),
      actor: 'bench',
      logger,
      dryRun: false,
      batchSize: PAGE_SIZE,
      pagesInFlight: PAGES_IN_FLIGHT,
      onProgress: (progress) => {
        if (progress.phase === 'rewrap') {
          rewrapEnd = process.hrtime.bigint();
        }
      },
    });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;

    if (summary.outcome !== 'completed' || summary.migrated !== count) {
      throw new Error(
        `The DEK migration of ${count} DEKs on ${url.split(':')[0]} ended ${summary.outcome} with ` +
          `${summary.migrated} migrated and ${summary.failed} failed; the benchmark needs all migrated.`,
      );
    }
    return {
      run: { operations: count, seconds, perSecond: count / seconds },
      rewrapSeconds: Number(rewrapEnd - start) / 1e9,
    };
  } finally {
    await source.close();
    await store.close();
  }
}

/** Times a migration to a target provider of its own, which it opens and closes around the run. */
export async function timeWithOwnTarget(
  setup: MigrationSetup,
  url: string,
  count: number,
): Promise<TimedMigration> {
  const target = createTargetProvider(setup);
  try {
    await target.open();
    return await timeMigration(setup, target, url, count);
  } finally {
    await target.close();
  }
}

/** Returns the URL of a new SQLite database file in the benchmark's folder. */
export function sqliteUrl(setup: MigrationSetup, name: string): string {
  return `sqlite:${join(setup.directory, `${name}.db`)}`;
}
