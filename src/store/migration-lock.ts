import { setTimeout } from 'node:timers/promises';

import { sql, type Kysely } from 'kysely';

import type { MigrationLockAttempt, MigrationLockHolder } from './repositories.js';
import type { Database } from './schema.js';

/** The key of the only row of dek_migration_lock. */
const LOCK_NAME = 'dek-migration';

/**
 * The PostgreSQL advisory lock key of DEK migrations: the ASCII bytes of "SRDK" as one integer.
 * Advisory lock keys are shared by every application on the database, so the value is unusual.
 */
const ADVISORY_LOCK_KEY = 0x5352444b;

const HOLDER_READ_ATTEMPTS = 10;
const HOLDER_READ_INTERVAL_MS = 100;

/**
 * Takes the SQLite migration lock by inserting the single lock row. The primary key makes the
 * insert of a second process do nothing, in its own short write transaction. A transaction held
 * for the whole run (BEGIN IMMEDIATE) would also exclude a second run. But it would block every
 * write of the running service until the migration ends. Each DEK is also committed on its own,
 * so that an interrupted run keeps what it did.
 */
export async function trySqliteLock(
  db: Kysely<Database>,
  holder: MigrationLockHolder,
): Promise<MigrationLockAttempt> {
  const result = await db
    .insertInto('dek_migration_lock')
    .values({ name: LOCK_NAME, ...holderColumns(holder) })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .executeTakeFirst();

  if (result.numInsertedOrUpdatedRows !== 1n) {
    return { acquired: false, holder: await readHolder(db) };
  }
  return {
    acquired: true,
    check: async () => {
      const current = await readHolder(db);
      if (current === undefined || !sameHolder(current, holder)) {
        throw new Error(
          'The SQLite migration lock row of this run was removed by another process.',
        );
      }
    },
    release: async () => {
      await deleteLockRow(db, holder);
    },
  };
}

/**
 * Takes the PostgreSQL advisory lock on a connection that stays checked out of the pool until
 * release(). The server releases a session lock when its connection ends, so a killed process
 * cannot leave the lock behind. The holder is also written to dek_migration_lock so that a second
 * run can name it. That row may be stale, so it never decides who holds the lock.
 * A lock connection that the server drops mid-run is logged by the pool's per-client listener
 * (see postgres.ts). The lock is then gone with the connection, so check() and release() fail.
 */
export function tryPostgresLock(
  db: Kysely<Database>,
  holder: MigrationLockHolder,
): Promise<MigrationLockAttempt> {
  return new Promise<MigrationLockAttempt>((resolve, reject) => {
    let endSession: () => void = () => undefined;
    const sessionEnded = new Promise<void>((resolveEnd) => {
      endSession = resolveEnd;
    });

    const session = db.connection().execute(async (connection) => {
      const { rows } = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_lock(${ADVISORY_LOCK_KEY}) as locked`.execute(connection);
      if (rows[0]?.locked !== true) {
        resolve({ acquired: false, holder: await readHolderSoon(connection) });
        return;
      }

      try {
        await connection
          .insertInto('dek_migration_lock')
          .values({ name: LOCK_NAME, ...holderColumns(holder) })
          .onConflict((conflict) => conflict.column('name').doUpdateSet(holderColumns(holder)))
          .execute();
      } catch (error) {
        await sql`select pg_advisory_unlock(${ADVISORY_LOCK_KEY})`.execute(connection);
        throw error;
      }

      resolve({
        acquired: true,
        // The session-level advisory lock lives exactly as long as this connection's session, so
        // a query that succeeds on the connection proves that the lock is still held.
        check: async () => {
          await sql`select 1`.execute(connection);
        },
        release: async () => {
          endSession();
          await session;
        },
      });
      await sessionEnded;
      await deleteLockRow(connection, holder);
      await sql`select pg_advisory_unlock(${ADVISORY_LOCK_KEY})`.execute(connection);
    });
    // An error before resolve() rejects the attempt. After it, release() rethrows the error.
    session.catch(reject);
  });
}

/** Deletes the lock row of exactly this holder, so a newer holder's row is never removed. */
export async function deleteLockRow(
  db: Kysely<Database>,
  holder: MigrationLockHolder,
): Promise<boolean> {
  const result = await db
    .deleteFrom('dek_migration_lock')
    .where('name', '=', LOCK_NAME)
    .where('host', '=', holder.host)
    .where('pid', '=', holder.pid)
    .where('started_at', '=', holder.startedAt)
    .executeTakeFirst();
  return result.numDeletedRows === 1n;
}

async function readHolder(db: Kysely<Database>): Promise<MigrationLockHolder | undefined> {
  const row = await db
    .selectFrom('dek_migration_lock')
    .select(['host', 'pid', 'started_at'])
    .where('name', '=', LOCK_NAME)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : { host: row.host, pid: row.pid, startedAt: row.started_at };
}

/**
 * Reads the holder of the PostgreSQL lock. The holder writes its row just after taking the lock,
 * so an attempt in between finds none, and the read is repeated for up to a second.
 */
async function readHolderSoon(db: Kysely<Database>): Promise<MigrationLockHolder | undefined> {
  for (let attempt = 0; attempt < HOLDER_READ_ATTEMPTS; attempt += 1) {
    const holder = await readHolder(db);
    if (holder !== undefined) {
      return holder;
    }
    await setTimeout(HOLDER_READ_INTERVAL_MS);
  }
  return undefined;
}

function sameHolder(left: MigrationLockHolder, right: MigrationLockHolder): boolean {
  return left.host === right.host && left.pid === right.pid && left.startedAt === right.startedAt;
}

function holderColumns(holder: MigrationLockHolder): {
  host: string;
  pid: number;
  started_at: string;
} {
  return { host: holder.host, pid: holder.pid, started_at: holder.startedAt };
}
