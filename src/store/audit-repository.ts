import type { Kysely, Selectable } from 'kysely';

import type { AuditEventInput, AuditEventRecord, AuditRepository } from './repositories.js';
import type { AuditEventTable, Database } from './schema.js';

/** The audit events, in the order of their sequence numbers. */
export class KyselyAuditRepository implements AuditRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async appendEvent(event: AuditEventInput): Promise<number> {
    const row = await this.#db
      .insertInto('audit_events')
      .values({
        occurred_at: event.occurredAt,
        actor: event.actor,
        action: event.action,
        object_type: event.objectType,
        object_id: event.objectId,
        outcome: event.outcome,
        reason: event.reason,
        client_address: event.clientAddress,
        details: JSON.stringify(event.details),
      })
      .returning('seq')
      .executeTakeFirstOrThrow();
    return row.seq;
  }

  /**
   * Lists the events after `afterSeq` (all when it is missing), oldest first, at most `limit`.
   * Throws RangeError when `limit` is not a positive integer or `afterSeq` is not an integer.
   */
  async listEvents(filter: {
    afterSeq?: number;
    limit: number;
    action?: string;
  }): Promise<AuditEventRecord[]> {
    if (!Number.isSafeInteger(filter.limit) || filter.limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${filter.limit}`);
    }
    if (filter.afterSeq !== undefined && !Number.isSafeInteger(filter.afterSeq)) {
      throw new RangeError(`afterSeq must be an integer, got ${filter.afterSeq}`);
    }

    let query = this.#db.selectFrom('audit_events').selectAll();
    if (filter.afterSeq !== undefined) {
      query = query.where('seq', '>', filter.afterSeq);
    }
    if (filter.action !== undefined) {
      query = query.where('action', '=', filter.action);
    }

    const rows = await query.orderBy('seq').limit(filter.limit).execute();
    return rows.map(toAuditEventRecord);
  }
}

function toAuditEventRecord(row: Selectable<AuditEventTable>): AuditEventRecord {
  return {
    seq: row.seq,
    occurredAt: row.occurred_at,
    actor: row.actor,
    action: row.action,
    objectType: row.object_type,
    objectId: row.object_id,
    outcome: row.outcome as AuditEventRecord['outcome'],
    reason: row.reason,
    clientAddress: row.client_address,
    details: JSON.parse(row.details) as AuditEventRecord['details'],
  };
}
