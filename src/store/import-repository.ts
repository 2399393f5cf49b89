import type { Kysely } from 'kysely';

import type { ImportBatch, ImportRepository } from './repositories.js';
import type { Database } from './schema.js';
import { insertAccountRows, insertTarget } from './vault-repository.js';

/** Writes CSV imports in one transaction each. */
export class KyselyImportRepository implements ImportRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insertBatch(batch: ImportBatch): Promise<void> {
    await this.#db.transaction().execute(async (transaction) => {
      for (const target of batch.targets) {
        await insertTarget(transaction, target);
      }
      for (const { account, dek } of batch.accounts) {
        await insertAccountRows(transaction, account, dek, batch.origin);
      }
    });
  }

  async deleteBatch(batch: ImportBatch): Promise<void> {
    const accountIds = batch.accounts.map(({ account }) => account.id);
    const dekIds = batch.accounts.map(({ dek }) => dek.id);
    const targetIds = batch.targets.map((target) => target.id);

    await this.#db.transaction().execute(async (transaction) => {
      // Children first, so that no foreign key points at a deleted row.
      for (const ids of chunks(accountIds)) {
        await transaction
          .deleteFrom('account_secret_versions')
          .where('account_id', 'in', ids)
          .execute();
        await transaction.deleteFrom('accounts').where('id', 'in', ids).execute();
      }
      for (const ids of chunks(dekIds)) {
        await transaction.deleteFrom('deks').where('id', 'in', ids).execute();
      }
      for (const ids of chunks(targetIds)) {
        await transaction.deleteFrom('targets').where('id', 'in', ids).execute();
      }
    });
  }
}

/** Splits ids into lists short enough for one statement's parameters on both dialects. */
function chunks(ids: string[], size = 500): string[][] {
  const result: string[][] = [];
  for (let start = 0; start < ids.length; start += size) {
    result.push(ids.slice(start, start + size));
  }
  return result;
}
