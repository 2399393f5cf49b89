import type { Kysely } from 'kysely';

import { StrongroomError } from '../errors.js';
import { constraints, isForeignKeyViolation, isUniqueViolation } from './constraints.js';
import type { AccountRecord, SecretVersionRecord } from './repositories.js';
import type { Database } from './schema.js';

/**
 * Selects accounts joined with their current secret version. The DEK id is the version's, which
 * equals accounts.dek_id, because every write of a version sets both in one transaction.
 */
export function selectAccounts(db: Kysely<Database>) {
  return db
    .selectFrom('accounts')
    .innerJoin('account_secret_versions as current', (join) =>
      join
        .onRef('current.account_id', '=', 'accounts.id')
        .onRef('current.version', '=', 'accounts.secret_version'),
    )
    .select([
      'accounts.id',
      'accounts.target_id',
      'accounts.username',
      'accounts.description',
      'accounts.secret_version',
      'accounts.created_at',
      'accounts.updated_at',
      'accounts.rotation_required',
      'current.dek_id',
      'current.secret_type',
      'current.secret_ciphertext',
    ]);
}

type AccountRow = Awaited<ReturnType<ReturnType<typeof selectAccounts>['executeTakeFirstOrThrow']>>;

export function toAccountRecord(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    targetId: row.target_id,
    username: row.username,
    description: row.description,
    dekId: row.dek_id,
    secretCiphertext: row.secret_ciphertext,
    secretVersion: row.secret_version,
    secretType: row.secret_type,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    rotationRequired: row.rotation_required !== 0,
  };
}

/** Inserts a secret version row. Throws SR_SECRET_VERSION_CONFLICT when the number is taken. */
export async function insertSecretVersion(
  db: Kysely<Database>,
  version: SecretVersionRecord,
): Promise<void> {
  try {
    await db
      .insertInto('account_secret_versions')
      .values({
        account_id: version.accountId,
        version: version.version,
        secret_type: version.secretType,
        dek_id: version.dekId,
        secret_ciphertext: version.secretCiphertext,
        created_at: version.createdAt,
        created_by: version.createdBy,
        reason: version.reason,
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error, constraints.secretVersionsPrimaryKey)) {
      throw new StrongroomError(
        'SR_SECRET_VERSION_CONFLICT',
        `Version ${version.version} of the secret of account ${version.accountId} was stored by another request. Read the account again and retry.`,
        { cause: error, details: { accountId: version.accountId, version: version.version } },
      );
    }
    throw error;
  }
}

export async function insertAccount(db: Kysely<Database>, account: AccountRecord): Promise<void> {
  try {
    await db
      .insertInto('accounts')
      .values({
        id: account.id,
        target_id: account.targetId,
        username: account.username,
        description: account.description,
        dek_id: account.dekId,
        secret_version: account.secretVersion,
        created_at: account.createdAt,
        updated_at: account.updatedAt,
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error, constraints.accountsTargetUsername)) {
      throw new StrongroomError(
        'SR_CONFLICT',
        `The target '${account.targetId}' has an account named '${account.username}'. Choose another user name.`,
        { cause: error, details: { targetId: account.targetId, username: account.username } },
      );
    }
    if (isUniqueViolation(error, constraints.accountsPrimaryKey)) {
      throw new StrongroomError('SR_CONFLICT', `An account with the id '${account.id}' exists.`, {
        cause: error,
        details: { accountId: account.id },
      });
    }
    // The DEK was inserted just before in the same transaction, so the target is the missing row.
    if (isForeignKeyViolation(error, constraints.accountsTarget)) {
      throw new StrongroomError(
        'SR_NOT_FOUND',
        `No target has the id '${account.targetId}', so no account was created.`,
        {
          cause: error,
          details: { targetId: account.targetId },
        },
      );
    }
    throw error;
  }
}
