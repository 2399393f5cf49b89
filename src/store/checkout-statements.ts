import type { Kysely, Selectable } from 'kysely';

import type { CheckoutRecord } from './access-records.js';
import { constraints, isUniqueViolation } from './constraints.js';
import type { AccountCheckoutTable, Database } from './schema.js';

/**
 * Statements of exclusive checkouts. The primary key of account_checkouts decides between two
 * checkouts of one account, whichever service node runs them.
 */

export async function insertCheckout(
  db: Kysely<Database>,
  record: CheckoutRecord,
): Promise<boolean> {
  try {
    await db.insertInto('account_checkouts').values(toCheckoutRow(record)).execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error, constraints.accountCheckoutsPrimaryKey)) {
      return false;
    }
    throw error;
  }
}

export async function findCheckout(
  db: Kysely<Database>,
  accountId: string,
): Promise<CheckoutRecord | undefined> {
  const row = await db
    .selectFrom('account_checkouts')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row === undefined ? undefined : toCheckoutRecord(row);
}

export async function listExpiredCheckouts(
  db: Kysely<Database>,
  now: string,
): Promise<CheckoutRecord[]> {
  const rows = await db
    .selectFrom('account_checkouts')
    .selectAll()
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(500)
    .execute();
  return rows.map(toCheckoutRecord);
}

export async function endCheckout(db: Kysely<Database>, record: CheckoutRecord): Promise<boolean> {
  return db.transaction().execute(async (transaction) => {
    const result = await transaction
      .deleteFrom('account_checkouts')
      .where('account_id', '=', record.accountId)
      .where('user_id', '=', record.userId)
      .where('expires_at', '=', record.expiresAt)
      .executeTakeFirst();
    if (Number(result.numDeletedRows) !== 1) {
      return false;
    }

    await transaction
      .updateTable('accounts')
      .set({ rotation_required: 1 })
      .where('id', '=', record.accountId)
      .execute();
    return true;
  });
}

export async function deleteCheckout(db: Kysely<Database>, record: CheckoutRecord): Promise<void> {
  await db
    .deleteFrom('account_checkouts')
    .where('account_id', '=', record.accountId)
    .where('user_id', '=', record.userId)
    .where('expires_at', '=', record.expiresAt)
    .execute();
}

function toCheckoutRow(record: CheckoutRecord): AccountCheckoutTable {
  return {
    account_id: record.accountId,
    user_id: record.userId,
    request_id: record.requestId,
    checked_out_at: record.checkedOutAt,
    expires_at: record.expiresAt,
  };
}

function toCheckoutRecord(row: Selectable<AccountCheckoutTable>): CheckoutRecord {
  return {
    accountId: row.account_id,
    userId: row.user_id,
    requestId: row.request_id,
    checkedOutAt: row.checked_out_at,
    expiresAt: row.expires_at,
  };
}
