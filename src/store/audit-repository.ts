import type { Kysely, Selectable } from 'kysely';

import { appendChainedEvent, HEAD_ROW_ID, requireHead } from './audit-chain-append.js';
import type {
  AuditChainHead,
  AuditCheckpointInput,
  AuditCheckpointRecord,
  AuditEventInput,
  AuditEventRecord,
  AuditKeyRolloverInput,
  AuditKeyRolloverRecord,
  AuditRepository,
  ChainedAuditEvent,
  Store,
} from './repositories.js';
import type {
  AuditCheckpointTable,
  AuditEventTable,
  AuditKeyRolloverTable,
  Database,
} from './schema.js';

/** The audit events, in the order of their sequence numbers, with their hash chain. */
export class KyselyAuditRepository implements AuditRepository {
  readonly #db: Kysely<Database>;
  readonly #dialect: Store['dialect'];

  constructor(db: Kysely<Database>, dialect: Store['dialect']) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async appendEvent(event: AuditEventInput): Promise<number> {
    return this.#db.transaction().execute((trx) => appendChainedEvent(trx, this.#dialect, event));
  }

  async readChainHead(): Promise<AuditChainHead> {
    const row = await this.#db
      .selectFrom('audit_chain_head')
      .select(['seq', 'hash'])
      .where('id', '=', HEAD_ROW_ID)
      .executeTakeFirst();
    return requireHead(row);
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
    checkPage(filter.afterSeq, filter.limit);

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

  async listChainedEvents(filter: {
    afterSeq: number;
    limit: number;
    since?: string;
  }): Promise<ChainedAuditEvent[]> {
    checkPage(filter.afterSeq, filter.limit);

    let query = this.#db.selectFrom('audit_events').selectAll().where('seq', '>', filter.afterSeq);
    if (filter.since !== undefined) {
      query = query.where('occurred_at', '>=', filter.since);
    }
    const rows = await query.orderBy('seq').limit(filter.limit).execute();
    return rows.map(toChainedEvent);
  }

  async insertCheckpoint(checkpoint: AuditCheckpointInput): Promise<number> {
    const row = await this.#db
      .insertInto('audit_checkpoints')
      .values({
        event_seq: checkpoint.eventSeq,
        head_hash: checkpoint.headHash,
        created_at: checkpoint.createdAt,
        provider: checkpoint.provider,
        key_id: checkpoint.keyId,
        algorithm: checkpoint.algorithm,
        mac: checkpoint.mac,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async listCheckpoints(afterId: number, limit: number): Promise<AuditCheckpointRecord[]> {
    checkPage(afterId, limit);
    const rows = await this.#db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toCheckpointRecord);
  }

  async latestCheckpoint(): Promise<AuditCheckpointRecord | undefined> {
    const row = await this.#db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toCheckpointRecord(row);
  }

  async insertRollover(rollover: AuditKeyRolloverInput): Promise<number> {
    const row = await this.#db
      .insertInto('audit_key_rollovers')
      .values({
        event_seq: rollover.eventSeq,
        head_hash: rollover.headHash,
        created_at: rollover.createdAt,
        old_provider: rollover.oldProvider,
        old_key_id: rollover.oldKeyId,
        old_algorithm: rollover.oldAlgorithm,
        new_provider: rollover.newProvider,
        new_key_id: rollover.newKeyId,
        new_algorithm: rollover.newAlgorithm,
        vouched_checkpoint_id: rollover.vouchedCheckpointId,
        vouched_rollover_id: rollover.vouchedRolloverId,
        vouched_digest: rollover.vouchedDigest,
        old_mac: rollover.oldMac,
        new_mac: rollover.newMac,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async listRollovers(): Promise<AuditKeyRolloverRecord[]> {
    const rows = await this.#db
      .selectFrom('audit_key_rollovers')
      .selectAll()
      .orderBy('id')
      .execute();
    return rows.map(toRolloverRecord);
  }

  async listCheckpointKeyIds(): Promise<Array<{ provider: string; keyId: string }>> {
    const checkpointKeys = this.#db.selectFrom('audit_checkpoints').select(['provider', 'key_id']);
    const oldKeys = this.#db
      .selectFrom('audit_key_rollovers')
      .select(['old_provider as provider', 'old_key_id as key_id']);
    const newKeys = this.#db
      .selectFrom('audit_key_rollovers')
      .select(['new_provider as provider', 'new_key_id as key_id']);
    const rows = await checkpointKeys.union(oldKeys).union(newKeys).execute();
    return rows.map((row) => ({ provider: row.provider, keyId: row.key_id }));
  }
}

function checkPage(after: number | undefined, limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }
  if (after !== undefined && !Number.isSafeInteger(after)) {
    throw new RangeError(`afterSeq must be an integer, got ${after}`);
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

/** Maps a row for verification. Details that are not valid JSON stay as text for the hash check. */
function toChainedEvent(row: Selectable<AuditEventTable>): ChainedAuditEvent {
  let details: AuditEventRecord['details'];
  try {
    details = JSON.parse(row.details) as AuditEventRecord['details'];
  } catch {
    details = {};
  }
  return {
    ...toAuditEventRecord({ ...row, details: '{}' }),
    details,
    detailsJson: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toCheckpointRecord(row: Selectable<AuditCheckpointTable>): AuditCheckpointRecord {
  return {
    id: row.id,
    eventSeq: row.event_seq,
    headHash: row.head_hash,
    createdAt: row.created_at,
    provider: row.provider,
    keyId: row.key_id,
    algorithm: row.algorithm,
    mac: row.mac,
  };
}

function toRolloverRecord(row: Selectable<AuditKeyRolloverTable>): AuditKeyRolloverRecord {
  return {
    id: Number(row.id),
    eventSeq: Number(row.event_seq),
    headHash: row.head_hash,
    createdAt: row.created_at,
    oldProvider: row.old_provider,
    oldKeyId: row.old_key_id,
    oldAlgorithm: row.old_algorithm,
    newProvider: row.new_provider,
    newKeyId: row.new_key_id,
    newAlgorithm: row.new_algorithm,
    vouchedCheckpointId: Number(row.vouched_checkpoint_id),
    vouchedRolloverId: Number(row.vouched_rollover_id),
    vouchedDigest: row.vouched_digest,
    oldMac: row.old_mac,
    newMac: row.new_mac,
  };
}
