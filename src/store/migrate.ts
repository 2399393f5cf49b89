import {
  DEFAULT_MIGRATION_TABLE,
  Migrator,
  sql,
  type Kysely,
  type Migration,
  type MigrationResult,
  type MigrationResultSet,
} from 'kysely';
import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import { describeCause } from './causes.js';
import type { DialectName, StoreMigration } from './migrations/index.js';

/**
 * Runs the migrations of `known` that the database has not run yet. All pending migrations run in
 * one transaction on both dialects, so a failure leaves the schema as it was. Throws
 * SR_DB_SCHEMA_NEWER when the database has a migration that `known` does not contain, and
 * SR_DB_MIGRATION_FAILED with the name of the failed migration and the results of the run.
 */
export async function migrateToLatest<DB>(
  db: Kysely<DB>,
  dialect: DialectName,
  known: readonly StoreMigration[],
  logger: Logger,
): Promise<void> {
  await rejectNewerSchema(db, known);

  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(toKyselyMigrations(known, dialect)) },
  });
  const resultSet =
    dialect === 'sqlite'
      ? await inSqliteWriteTransaction(db, () => migrator.migrateToLatest())
      : await migrator.migrateToLatest();

  if (resultSet.error !== undefined) {
    // Another process may have run a newer release's migrations between the check above and this
    // run. Kysely reports that as "corrupted migrations", so the check runs again to name it.
    const unknown = await findUnknownMigrations(db, known).catch((error: unknown) => {
      logger.warn(
        { dialect, error: describeCause(error) },
        'migration table could not be read again',
      );
      return [];
    });
    throw unknown.length > 0 ? schemaNewerError(unknown, known) : migrationFailedError(resultSet);
  }

  const applied = (resultSet.results ?? []).map((result) => result.migrationName);
  if (applied.length > 0) {
    logger.info({ dialect, migrations: applied }, 'database schema migrated');
  }
}

/** Throws SR_DB_SCHEMA_NEWER when the database has a migration that `known` does not contain. */
export async function rejectNewerSchema<DB>(
  db: Kysely<DB>,
  known: readonly StoreMigration[],
): Promise<void> {
  const unknown = await findUnknownMigrations(db, known);
  if (unknown.length > 0) {
    throw schemaNewerError(unknown, known);
  }
}

async function findUnknownMigrations<DB>(
  db: Kysely<DB>,
  known: readonly StoreMigration[],
): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((table) => table.name === DEFAULT_MIGRATION_TABLE)) {
    return [];
  }

  const applied = await sql<{
    name: string;
  }>`select name from ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(db);
  const knownNames = new Set(known.map((migration) => migration.name));
  return applied.rows
    .map((row) => row.name)
    .filter((name) => !knownNames.has(name))
    .sort();
}

function toKyselyMigrations(
  known: readonly StoreMigration[],
  dialect: DialectName,
): Record<string, Migration> {
  return Object.fromEntries(
    known.map((migration) => [
      migration.name,
      { up: (db: Kysely<unknown>) => migration.up(db, dialect) },
    ]),
  );
}

/**
 * Runs the migrator inside BEGIN IMMEDIATE. Kysely runs SQLite migrations without a transaction,
 * because its SQLite adapter reports no transactional DDL, although SQLite's DDL is transactional.
 * The write lock also makes a second process that opens the same file wait (up to the busy timeout)
 * and then find the schema current. The SQLite dialect has a single connection, and nothing else
 * uses the store while it opens, so every statement of the migrator runs inside this transaction.
 *
 * Foreign keys are off during the transaction, because a migration that rebuilds a table drops
 * the table that other tables reference, as SQLite's documented way to change a table requires.
 * PRAGMA foreign_key_check then runs before the commit, and any violation rolls the run back.
 */
async function inSqliteWriteTransaction<DB>(
  db: Kysely<DB>,
  migrate: () => Promise<MigrationResultSet>,
): Promise<MigrationResultSet> {
  // The pragma has no effect inside a transaction, so it is set before BEGIN.
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    return await inImmediateTransaction(db, migrate);
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

async function inImmediateTransaction<DB>(
  db: Kysely<DB>,
  migrate: () => Promise<MigrationResultSet>,
): Promise<MigrationResultSet> {
  await sql`begin immediate`.execute(db);

  let resultSet: MigrationResultSet;
  try {
    resultSet = await migrate();
  } catch (error) {
    await sql`rollback`.execute(db);
    throw error;
  }

  if (resultSet.error === undefined) {
    resultSet = await checkForeignKeys(db, resultSet);
  }
  await sql.raw(resultSet.error === undefined ? 'commit' : 'rollback').execute(db);
  return resultSet;
}

/** Returns the result set with an error when a row references a row that does not exist. */
async function checkForeignKeys<DB>(
  db: Kysely<DB>,
  resultSet: MigrationResultSet,
): Promise<MigrationResultSet> {
  const { rows } = await sql<{ table: string; parent: string }>`pragma foreign_key_check`.execute(
    db,
  );
  const [first] = rows;
  if (first === undefined) {
    return resultSet;
  }
  const error = new Error(
    `after the migrations, ${rows.length} rows reference rows that do not exist, the first in table ${first.table} (referencing ${first.parent})`,
  );
  return { ...resultSet, error };
}

function schemaNewerError(unknown: string[], known: readonly StoreMigration[]): StrongroomError {
  const latest = known.at(-1)?.name ?? 'none';
  return new StrongroomError(
    'SR_DB_SCHEMA_NEWER',
    `The database schema is newer than this Strongroom release: the database has run the ` +
      `migrations ${unknown.join(', ')}, which this release does not know (its latest is ${latest}). ` +
      `Run the Strongroom release that migrated this database, or a later one.`,
    { details: { unknownMigrations: unknown.join(', '), latestKnownMigration: latest } },
  );
}

function migrationFailedError(resultSet: MigrationResultSet): StrongroomError {
  const results = resultSet.results ?? [];
  const failed = results.find((result) => result.status === 'Error')?.migrationName;
  const reason = describeCause(resultSet.error);
  const summary = results.map(describeResultAfterRollback).join(', ');

  if (failed === undefined) {
    return new StrongroomError(
      'SR_DB_MIGRATION_FAILED',
      `Schema migrations could not run: ${reason}. Check that the database is writable (not a ` +
        `standby) and that the database user may create tables.`,
      { cause: resultSet.error, details: { results: summary } },
    );
  }

  return new StrongroomError(
    'SR_DB_MIGRATION_FAILED',
    `Schema migration ${failed} failed: ${reason}. Every migration of this run was rolled back ` +
      `(${summary}). Fix the cause and open the database again.`,
    { cause: resultSet.error, details: { migration: failed, results: summary } },
  );
}

function describeResultAfterRollback(result: MigrationResult): string {
  const outcome = { Success: 'rolled back', Error: 'failed', NotExecuted: 'not run' }[
    result.status
  ];
  return `${result.migrationName} ${outcome}`;
}
