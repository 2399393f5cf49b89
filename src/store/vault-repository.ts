import type { Kysely, Selectable } from 'kysely';

import { StrongroomError } from '../errors.js';
import { constraints, isForeignKeyViolation, isUniqueViolation } from './constraints.js';
import { insertDek } from './key-repository.js';
import type { AccountRecord, DekRecord, TargetRecord, VaultRepository } from './repositories.js';
import type { AccountTable, Database, TargetTable } from './schema.js';

/** Targets and their privileged accounts. Lists are sorted by name, byte by byte. */
export class KyselyVaultRepository implements VaultRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insertTarget(record: TargetRecord): Promise<void> {
    try {
      await this.#db
        .insertInto('targets')
        .values({
          id: record.id,
          name: record.name,
          address: record.address,
          description: record.description,
          created_at: record.createdAt,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error, constraints.targetsName)) {
        throw new StrongroomError(
          'SR_CONFLICT',
          `A target named '${record.name}' exists. Choose another name.`,
          {
            cause: error,
            details: { name: record.name },
          },
        );
      }
      if (isUniqueViolation(error, constraints.targetsPrimaryKey)) {
        throw new StrongroomError('SR_CONFLICT', `A target with the id '${record.id}' exists.`, {
          cause: error,
          details: { targetId: record.id },
        });
      }
      throw error;
    }
  }

  async findTarget(id: string): Promise<TargetRecord | undefined> {
    const row = await this.#db
      .selectFrom('targets')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toTargetRecord(row);
  }

  async listTargets(): Promise<TargetRecord[]> {
    const rows = await this.#db.selectFrom('targets').selectAll().orderBy('name').execute();
    return rows.map(toTargetRecord);
  }

  /**
   * Inserts the DEK, then the account, in one transaction. Throws RangeError when the account does
   * not name the DEK, SR_NOT_FOUND when the target does not exist, and SR_CONFLICT when the target
   * has an account with the same user name or an id is taken.
   */
  async insertAccountWithDek(account: AccountRecord, dek: DekRecord): Promise<void> {
    if (account.dekId !== dek.id) {
      throw new RangeError(
        `account.dekId must be the id of the DEK inserted with it ('${dek.id}'), got '${account.dekId}'`,
      );
    }

    await this.#db.transaction().execute(async (transaction) => {
      await insertDek(transaction, dek);
      await insertAccount(transaction, account);
    });
  }

  async findAccount(id: string): Promise<AccountRecord | undefined> {
    const row = await this.#db
      .selectFrom('accounts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toAccountRecord(row);
  }

  async listAccounts(targetId: string): Promise<AccountRecord[]> {
    const rows = await this.#db
      .selectFrom('accounts')
      .selectAll()
      .where('target_id', '=', targetId)
      .orderBy('username')
      .execute();
    return rows.map(toAccountRecord);
  }
}

async function insertAccount(db: Kysely<Database>, account: AccountRecord): Promise<void> {
  try {
    await db
      .insertInto('accounts')
      .values({
        id: account.id,
        target_id: account.targetId,
        username: account.username,
        description: account.description,
        dek_id: account.dekId,
        secret_ciphertext: account.secretCiphertext,
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

function toTargetRecord(row: Selectable<TargetTable>): TargetRecord {
  return {
    id: row.id,
    name: row.name,
    address: row.address,
    description: row.description,
    createdAt: row.created_at,
  };
}

function toAccountRecord(row: Selectable<AccountTable>): AccountRecord {
  return {
    id: row.id,
    targetId: row.target_id,
    username: row.username,
    description: row.description,
    dekId: row.dek_id,
    secretCiphertext: row.secret_ciphertext,
    secretVersion: row.secret_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    rotationRequired: row.rotation_required !== 0,
  };
}
