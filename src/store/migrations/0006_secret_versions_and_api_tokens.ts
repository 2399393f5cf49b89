import { sql, type Kysely } from 'kysely';

import { constraints } from '../constraints.js';
import type { DialectName } from './index.js';

/** The secret type that every secret stored before this migration gets. */
const LEGACY_SECRET_TYPE = 'password';
const LEGACY_REASON = 'Stored before secret versions were kept.';

/**
 * Adds the version history of account secrets and the API tokens of applications. Each account's
 * current secret moves into a version row as it is: the ciphertext, its DEK and its version number
 * are copied unchanged, so nothing is decrypted or re-encrypted. This works because the associated
 * data of a secret binds the account id, the DEK id and the version number, all of which the copy
 * keeps.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  await createSecretVersions(db, dialect);
  await moveCurrentSecrets(db);
  await createApiTokens(db);
}

async function createSecretVersions(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';

  // The unique constraint on dek_id keeps each version under a DEK of its own.
  await db.schema
    .createTable('account_secret_versions')
    .addColumn('account_id', 'text', (column) => column.notNull())
    .addColumn('version', 'integer', (column) => column.notNull())
    .addColumn('secret_type', 'text', (column) => column.notNull())
    .addColumn('dek_id', 'text', (column) => column.notNull())
    .addColumn('secret_ciphertext', binary, (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('created_by', 'text', (column) => column.notNull())
    .addColumn('reason', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.secretVersionsPrimaryKey.name, ['account_id', 'version'])
    .addUniqueConstraint(constraints.secretVersionsDek.name, ['dek_id'])
    .addForeignKeyConstraint(constraints.secretVersionsAccount.name, ['account_id'], 'accounts', [
      'id',
    ])
    .addForeignKeyConstraint(constraints.secretVersionsDekForeignKey.name, ['dek_id'], 'deks', [
      'id',
    ])
    .execute();
}

async function moveCurrentSecrets(db: Kysely<unknown>): Promise<void> {
  await sql`
    insert into account_secret_versions
      (account_id, version, secret_type, dek_id, secret_ciphertext, created_at, created_by, reason)
    select id, secret_version, ${LEGACY_SECRET_TYPE}, dek_id, secret_ciphertext, updated_at, '',
      ${LEGACY_REASON}
    from accounts
  `.execute(db);

  // SQLite drops a column in place from 3.35 on; this one has no index or constraint of its own.
  await db.schema.alterTable('accounts').dropColumn('secret_ciphertext').execute();
}

async function createApiTokens(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('token_hash', 'text', (column) => column.notNull())
    .addColumn('created_by', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('expires_at', 'text', (column) => column.notNull())
    .addColumn('allowed_networks', 'text', (column) => column.notNull())
    .addColumn('revoked_at', 'text')
    .addColumn('revoked_by', 'text')
    .addPrimaryKeyConstraint(constraints.apiTokensPrimaryKey.name, ['id'])
    .addUniqueConstraint(constraints.apiTokensHash.name, ['token_hash'])
    .execute();

  await db.schema
    .createTable('api_token_accounts')
    .addColumn('token_id', 'text', (column) => column.notNull())
    .addColumn('account_id', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.apiTokenAccountsPrimaryKey.name, [
      'token_id',
      'account_id',
    ])
    .addForeignKeyConstraint(constraints.apiTokenAccountsToken.name, ['token_id'], 'api_tokens', [
      'id',
    ])
    .addForeignKeyConstraint(constraints.apiTokenAccountsAccount.name, ['account_id'], 'accounts', [
      'id',
    ])
    .execute();
}
