import type { Kysely, Selectable } from 'kysely';

import { StrongroomError } from '../errors.js';
import {
  insertAccount,
  insertSecretVersion,
  selectAccounts,
  toAccountRecord,
} from './account-rows.js';
import { constraints, isUniqueViolation } from './constraints.js';
import { insertDek } from './key-repository.js';
import type {
  AccountRecord,
  DekRecord,
  SecretVersionOrigin,
  TargetRecord,
  VaultRepository,
} from './repositories.js';
import type { Database, TargetTable } from './schema.js';
import { inTransaction } from './transactions.js';

/** Targets and their privileged accounts. Lists are sorted by name, byte by byte. */
export class KyselyVaultRepository implements VaultRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insertTarget(record: TargetRecord): Promise<void> {
    await insertTarget(this.#db, record);
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
   * has an account with the same user name or an id is taken. The account's secret becomes its
   * version `account.secretVersion`, stored by `origin.createdBy`.
   */
  async insertAccountWithDek(
    account: AccountRecord,
    dek: DekRecord,
    origin: SecretVersionOrigin = { createdBy: '', reason: '' },
  ): Promise<void> {
    if (account.dekId !== dek.id) {
      throw new RangeError(
        `account.dekId must be the id of the DEK inserted with it ('${dek.id}'), got '${account.dekId}'`,
      );
    }

    await inTransaction(this.#db, async (transaction) => {
      await insertAccountRows(transaction, account, dek, origin);
    });
  }

  async findAccount(id: string): Promise<AccountRecord | undefined> {
    const row = await selectAccounts(this.#db).where('accounts.id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toAccountRecord(row);
  }

  async listAccounts(targetId: string): Promise<AccountRecord[]> {
    const rows = await selectAccounts(this.#db)
      .where('accounts.target_id', '=', targetId)
      .orderBy('accounts.username')
      .execute();
    return rows.map(toAccountRecord);
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

export async function insertTarget(db: Kysely<Database>, record: TargetRecord): Promise<void> {
  try {
    await db
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

/** Inserts the DEK, the account and its first secret version, inside the caller's transaction. */
export async function insertAccountRows(
  db: Kysely<Database>,
  account: AccountRecord,
  dek: DekRecord,
  origin: SecretVersionOrigin,
): Promise<void> {
  await insertDek(db, dek);
  await insertAccount(db, account);
  await insertSecretVersion(db, {
    accountId: account.id,
    version: account.secretVersion,
    secretType: account.secretType,
    dekId: dek.id,
    secretCiphertext: account.secretCiphertext,
    createdAt: account.updatedAt,
    ...origin,
  });
}
