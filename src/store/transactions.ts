import type { Kysely, Transaction } from 'kysely';

import type { Database } from './schema.js';

/**
 * Runs `work` in a transaction on `db`. When `db` is already a transaction (a repository built by
 * Store.transact), `work` joins it, because Kysely does not nest transactions.
 */
export async function inTransaction<T>(
  db: Kysely<Database>,
  work: (transaction: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) {
    return work(db as Transaction<Database>);
  }
  return db.transaction().execute(work);
}
