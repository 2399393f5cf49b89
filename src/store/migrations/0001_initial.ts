import { sql, type Kysely } from 'kysely';

import { constraints } from '../constraints.js';
import type { DialectName } from './index.js';

/**
 * Creates the first schema. Column types differ between the dialects only where they must: binary
 * is BLOB or BYTEA, and the audit sequence is an AUTOINCREMENT rowid or an identity column.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  // Names are compared and sorted byte by byte on both dialects: SQLite's BINARY collation and
  // PostgreSQL's "C" collation agree, whatever locale the PostgreSQL cluster was created with.
  const name = dialect === 'postgres' ? sql`text collate "C"` : 'text';

  await db.schema
    .createTable('master_keys')
    .addColumn('provider', 'text', (column) => column.notNull())
    .addColumn('key_id', 'text', (column) => column.notNull())
    .addColumn('kcv', 'text', (column) => column.notNull())
    .addColumn('mechanism', 'text', (column) => column.notNull())
    .addColumn('canary', binary, (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.masterKeysPrimaryKey.name, ['provider', 'key_id'])
    .execute();

  await db.schema
    .createTable('deks')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('provider', 'text', (column) => column.notNull())
    .addColumn('key_id', 'text', (column) => column.notNull())
    .addColumn('kcv', 'text', (column) => column.notNull())
    .addColumn('mechanism', 'text', (column) => column.notNull())
    .addColumn('wrapped', binary, (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.deksPrimaryKey.name, ['id'])
    .execute();
  // Start-up checks and key migrations count and select DEKs by the master key that wraps them.
  await db.schema
    .createIndex('deks_provider_key_id_idx')
    .on('deks')
    .columns(['provider', 'key_id'])
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('username', name, (column) => column.notNull())
    .addColumn('password_hash', 'text', (column) => column.notNull())
    .addColumn('role', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('disabled', 'integer', (column) => column.notNull().defaultTo(0))
    .addPrimaryKeyConstraint(constraints.usersPrimaryKey.name, ['id'])
    .addUniqueConstraint(constraints.usersUsername.name, ['username'])
    .execute();

  await db.schema
    .createTable('api_sessions')
    .addColumn('token_hash', 'text', (column) => column.notNull())
    .addColumn('user_id', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('expires_at', 'text', (column) => column.notNull())
    .addColumn('client_address', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.apiSessionsPrimaryKey.name, ['token_hash'])
    .addForeignKeyConstraint(constraints.apiSessionsUser.name, ['user_id'], 'users', ['id'])
    .execute();
  await db.schema
    .createIndex('api_sessions_user_id_idx')
    .on('api_sessions')
    .column('user_id')
    .execute();
  await db.schema
    .createIndex('api_sessions_expires_at_idx')
    .on('api_sessions')
    .column('expires_at')
    .execute();

  await db.schema
    .createTable('targets')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('name', name, (column) => column.notNull())
    .addColumn('address', 'text', (column) => column.notNull())
    .addColumn('description', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.targetsPrimaryKey.name, ['id'])
    .addUniqueConstraint(constraints.targetsName.name, ['name'])
    .execute();

  // The unique index on (target_id, username) also serves listing the accounts of a target.
  await db.schema
    .createTable('accounts')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('target_id', 'text', (column) => column.notNull())
    .addColumn('username', name, (column) => column.notNull())
    .addColumn('description', 'text', (column) => column.notNull())
    .addColumn('dek_id', 'text', (column) => column.notNull())
    .addColumn('secret_ciphertext', binary, (column) => column.notNull())
    .addColumn('secret_version', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.accountsPrimaryKey.name, ['id'])
    .addUniqueConstraint(constraints.accountsTargetUsername.name, ['target_id', 'username'])
    .addForeignKeyConstraint(constraints.accountsTarget.name, ['target_id'], 'targets', ['id'])
    .addForeignKeyConstraint(constraints.accountsDek.name, ['dek_id'], 'deks', ['id'])
    .execute();
  await db.schema.createIndex('accounts_dek_id_idx').on('accounts').column('dek_id').execute();

  // The sequence is assigned by the database and cannot be written by an insert on PostgreSQL
  // (GENERATED ALWAYS). AUTOINCREMENT keeps SQLite from reusing the number of a deleted last row.
  await db.schema
    .createTable('audit_events')
    .addColumn('seq', dialect === 'postgres' ? 'bigint' : 'integer', (column) =>
      dialect === 'postgres'
        ? column.generatedAlwaysAsIdentity().primaryKey()
        : column.primaryKey().autoIncrement(),
    )
    .addColumn('occurred_at', 'text', (column) => column.notNull())
    .addColumn('actor', 'text', (column) => column.notNull())
    .addColumn('action', 'text', (column) => column.notNull())
    .addColumn('object_type', 'text', (column) => column.notNull())
    .addColumn('object_id', 'text', (column) => column.notNull())
    .addColumn('outcome', 'text', (column) => column.notNull())
    .addColumn('reason', 'text', (column) => column.notNull())
    .addColumn('client_address', 'text', (column) => column.notNull())
    .addColumn('details', 'text', (column) => column.notNull())
    .execute();
}
