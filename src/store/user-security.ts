import { sql, type Kysely } from 'kysely';

import { insertDek } from './key-repository.js';
import type { DekRecord } from './repositories.js';
import type { Database } from './schema.js';
import { inTransaction } from './transactions.js';

/** The TOTP and lockout statements of the user repository. */

export async function setPendingTotp(
  db: Kysely<Database>,
  userId: string,
  dek: DekRecord,
  ciphertext: Buffer,
): Promise<void> {
  await inTransaction(db, async (transaction) => {
    const previous = await transaction
      .selectFrom('users')
      .select('totp_dek_id')
      .where('id', '=', userId)
      .executeTakeFirst();

    await insertDek(transaction, dek);
    await transaction
      .updateTable('users')
      .set({
        totp_dek_id: dek.id,
        totp_secret_ciphertext: ciphertext,
        totp_confirmed_at: null,
        totp_last_step: null,
      })
      .where('id', '=', userId)
      .execute();

    if (previous?.totp_dek_id != null) {
      await transaction.deleteFrom('deks').where('id', '=', previous.totp_dek_id).execute();
    }
  });
}

export async function confirmTotp(
  db: Kysely<Database>,
  userId: string,
  confirmedAt: string,
  step: number,
): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ totp_confirmed_at: confirmedAt, totp_last_step: step })
    .where('id', '=', userId)
    .where('totp_dek_id', 'is not', null)
    .where('totp_confirmed_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function claimTotpStep(
  db: Kysely<Database>,
  userId: string,
  step: number,
): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function resetTotp(db: Kysely<Database>, userId: string): Promise<void> {
  await inTransaction(db, async (transaction) => {
    const row = await transaction
      .selectFrom('users')
      .select('totp_dek_id')
      .where('id', '=', userId)
      .executeTakeFirst();

    await transaction
      .updateTable('users')
      .set({
        totp_dek_id: null,
        totp_secret_ciphertext: null,
        totp_confirmed_at: null,
        totp_last_step: null,
      })
      .where('id', '=', userId)
      .execute();

    if (row?.totp_dek_id != null) {
      await transaction.deleteFrom('deks').where('id', '=', row.totp_dek_id).execute();
    }
  });
}

/**
 * Counts a failed login in one statement, so that failures on several service nodes add up. The
 * window restarts when it is missing or began before `windowStartsAfter`.
 */
export async function recordLoginFailure(
  db: Kysely<Database>,
  userId: string,
  now: string,
  windowStartsAfter: string,
): Promise<number> {
  const restart = sql<boolean>`(failed_login_window_start is null or failed_login_window_start < ${windowStartsAfter})`;

  await db
    .updateTable('users')
    .set({
      failed_login_count: sql`case when ${restart} then 1 else failed_login_count + 1 end`,
      failed_login_window_start: sql`case when ${restart} then ${now} else failed_login_window_start end`,
    })
    .where('id', '=', userId)
    .execute();

  const row = await db
    .selectFrom('users')
    .select('failed_login_count')
    .where('id', '=', userId)
    .executeTakeFirst();
  return row?.failed_login_count ?? 0;
}

export async function lockUser(
  db: Kysely<Database>,
  userId: string,
  lockedUntil: string,
): Promise<void> {
  await db
    .updateTable('users')
    .set({ locked_until: lockedUntil })
    .where('id', '=', userId)
    .execute();
}

export async function clearLoginFailures(db: Kysely<Database>, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ failed_login_count: 0, failed_login_window_start: null, locked_until: null })
    .where('id', '=', userId)
    .execute();
}
