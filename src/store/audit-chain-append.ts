import { sql, type Transaction } from 'kysely';

import { canonicalJson, hashEvent } from '../audit/chain/encoding.js';
import type { AuditChainHead, AuditEventInput, Store } from './repositories.js';
import type { Database } from './schema.js';

/** The id of the one row of audit_chain_head. */
export const HEAD_ROW_ID = 1;

/**
 * Appends one event to the hash chain inside the caller's transaction and returns its seq. A
 * repository that stores an event atomically with its own change calls this in its transaction.
 * Any other insert into audit_events breaks the chain, because it skips the head lock and hash.
 */
export async function appendChainedEvent(
  trx: Transaction<Database>,
  dialect: Store['dialect'],
  event: AuditEventInput,
): Promise<number> {
  const head = await lockChainHead(trx, dialect);
  const fields = {
    seq: head.seq + 1,
    occurredAt: event.occurredAt,
    actor: event.actor,
    action: event.action,
    objectType: event.objectType,
    objectId: event.objectId,
    outcome: event.outcome,
    reason: event.reason,
    clientAddress: event.clientAddress,
    detailsJson: canonicalJson(event.details),
    prevHash: head.hash,
  };
  const hash = hashEvent(fields);

  await trx
    .insertInto('audit_events')
    .values({
      seq: fields.seq,
      occurred_at: fields.occurredAt,
      actor: fields.actor,
      action: fields.action,
      object_type: fields.objectType,
      object_id: fields.objectId,
      outcome: fields.outcome,
      reason: fields.reason,
      client_address: fields.clientAddress,
      details: fields.detailsJson,
      prev_hash: fields.prevHash,
      hash,
    })
    .execute();
  await trx
    .updateTable('audit_chain_head')
    .set({ seq: fields.seq, hash })
    .where('id', '=', HEAD_ROW_ID)
    .execute();
  return fields.seq;
}

/**
 * Locks the head row for the rest of the transaction and reads it. PostgreSQL takes a row lock
 * with SELECT ... FOR UPDATE, which a second node waits for. On SQLite the no-op UPDATE takes
 * the database write lock first (waiting up to the busy timeout), so the read that follows gets
 * the latest head and no other writer can commit in between.
 */
async function lockChainHead(
  trx: Transaction<Database>,
  dialect: Store['dialect'],
): Promise<AuditChainHead> {
  let query = trx
    .selectFrom('audit_chain_head')
    .select(['seq', 'hash'])
    .where('id', '=', HEAD_ROW_ID);
  if (dialect === 'postgres') {
    query = query.forUpdate();
  } else {
    await trx
      .updateTable('audit_chain_head')
      .set({ seq: sql`seq` })
      .where('id', '=', HEAD_ROW_ID)
      .execute();
  }
  return requireHead(await query.executeTakeFirst());
}

export function requireHead(row: AuditChainHead | undefined): AuditChainHead {
  if (row === undefined) {
    throw new Error(
      'the audit chain head row (audit_chain_head, id 1) is missing, so no event can be chained. Restore the database from a backup.',
    );
  }
  return { seq: row.seq, hash: row.hash };
}
