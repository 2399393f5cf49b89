import type { Kysely } from 'kysely';

import type { DialectName } from './index.js';

/**
 * Adds the table of audit key rollovers: statements, written when the master key changes, that the
 * checkpoints made under the old checkpoint key verified, MAC'd with both the old and the new key.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const integer = dialect === 'postgres' ? 'bigint' : 'integer';

  await db.schema
    .createTable('audit_key_rollovers')
    .addColumn('id', integer, (column) =>
      dialect === 'postgres'
        ? column.generatedAlwaysAsIdentity().primaryKey()
        : column.primaryKey().autoIncrement(),
    )
    .addColumn('event_seq', integer, (column) => column.notNull())
    .addColumn('head_hash', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('old_provider', 'text', (column) => column.notNull())
    .addColumn('old_key_id', 'text', (column) => column.notNull())
    .addColumn('old_algorithm', 'text', (column) => column.notNull())
    .addColumn('new_provider', 'text', (column) => column.notNull())
    .addColumn('new_key_id', 'text', (column) => column.notNull())
    .addColumn('new_algorithm', 'text', (column) => column.notNull())
    .addColumn('vouched_checkpoint_id', integer, (column) => column.notNull())
    .addColumn('vouched_rollover_id', integer, (column) => column.notNull())
    .addColumn('vouched_digest', 'text', (column) => column.notNull())
    .addColumn('old_mac', 'text', (column) => column.notNull())
    .addColumn('new_mac', 'text', (column) => column.notNull())
    .execute();
}
