import type { Kysely } from 'kysely';

import type { DialectName } from './index.js';

/**
 * Adds the journal of DEK migration runs and the lock table that SQLite uses to keep two runs from
 * overlapping. PostgreSQL takes an advisory lock instead, but gets the same table so that both
 * dialects keep one schema.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  await db.schema
    .createTable('dek_migration_runs')
    .addColumn('id', 'text', (column) => column.notNull().primaryKey())
    .addColumn('started_at', 'text', (column) => column.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('command', 'text', (column) => column.notNull())
    .addColumn('source_provider', 'text', (column) => column.notNull())
    .addColumn('source_key_id', 'text', (column) => column.notNull())
    .addColumn('source_kcv', 'text', (column) => column.notNull())
    .addColumn('target_provider', 'text', (column) => column.notNull())
    .addColumn('target_key_id', 'text', (column) => column.notNull())
    .addColumn('target_kcv', 'text', (column) => column.notNull())
    .addColumn('dry_run', 'integer', (column) => column.notNull())
    .addColumn('migrated', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('skipped', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('unknown', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('failed', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('outcome', 'text', (column) => column.notNull())
    .addColumn('host', 'text', (column) => column.notNull())
    .addColumn('pid', 'integer', (column) => column.notNull())
    .execute();
  await db.schema
    .createIndex('dek_migration_runs_started_at_idx')
    .on('dek_migration_runs')
    .column('started_at')
    .execute();

  await db.schema
    .createTable('dek_migration_lock')
    .addColumn('name', 'text', (column) => column.notNull().primaryKey())
    .addColumn('host', 'text', (column) => column.notNull())
    .addColumn('pid', 'integer', (column) => column.notNull())
    .addColumn('started_at', 'text', (column) => column.notNull())
    .execute();
}
