import { hostname } from 'node:os';
import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import type { MigrationLockHolder, Store } from '../store/repositories.js';

/** The database-wide migration lock of a run. */
export interface MigrationLock {
  /** Throws SR_DEK_MIGRATION_LOCK_LOST when the lock is no longer held. */
  check(): Promise<void>;
  release(): Promise<void>;
}

/**
 * Checks that the database accepts writes and takes the database-wide migration lock. Throws
 * SR_DEK_MIGRATION_STANDBY on a PostgreSQL standby and SR_DEK_MIGRATION_LOCKED, naming the
 * holder, when another run holds the lock.
 */
export async function acquireMigrationLock(store: Store, logger: Logger): Promise<MigrationLock> {
  if (await store.dekMigrations.isReadOnlyStandby()) {
    throw new StrongroomError(
      'SR_DEK_MIGRATION_STANDBY',
      'The database is a read-only PostgreSQL standby. Run the migration against the primary server.',
    );
  }

  const self: MigrationLockHolder = {
    host: hostname(),
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
  let attempt = await store.dekMigrations.tryLock(self);
  if (!attempt.acquired && attempt.holder !== undefined && isDeadLocalProcess(attempt.holder)) {
    // Only the SQLite lock row outlives its process. Its holder ran on this host and has ended.
    logger.warn({ holder: attempt.holder }, 'breaking the DEK migration lock of an ended process');
    await store.dekMigrations.breakLock(attempt.holder);
    attempt = await store.dekMigrations.tryLock(self);
  }

  if (!attempt.acquired) {
    const holder = attempt.holder;
    const who =
      holder === undefined
        ? 'another process'
        : `process ${holder.pid} on ${holder.host}, started at ${holder.startedAt}`;
    throw new StrongroomError(
      'SR_DEK_MIGRATION_LOCKED',
      `Another DEK migration is running (${who}). Wait for it to finish, or stop it, then run this command again.`,
      { details: holder === undefined ? {} : { host: holder.host, pid: holder.pid } },
    );
  }
  const { check, release } = attempt;
  return {
    check: async () => {
      try {
        await check();
      } catch (error) {
        throw new StrongroomError(
          'SR_DEK_MIGRATION_LOCK_LOST',
          'The DEK migration lost its database-wide lock, for example because the database ended the connection that held it, so the run stopped. Moved DEKs stay moved. Check the database, then run the command again to resume.',
          { cause: error },
        );
      }
    },
    release,
  };
}

function isDeadLocalProcess(holder: MigrationLockHolder): boolean {
  if (holder.host !== hostname() || holder.pid === process.pid) {
    return false;
  }
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    // EPERM means the process exists under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
