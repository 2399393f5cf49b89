import { sql, type Kysely, type Selectable } from 'kysely';

import { StrongroomError } from '../errors.js';
import type { MasterKeyRef, ProviderKind, WrapMechanism } from '../keys/types.js';
import { constraints, isUniqueViolation } from './constraints.js';
import { ROWS_PER_REWRAP_STATEMENT, rewrapStatement } from './rewrap-statement.js';
import type {
  CanaryRecord,
  DekCount,
  DekRecord,
  KeyRepository,
  RewrappedDek,
  RewrappedRow,
  Store,
} from './repositories.js';
import type { Database, DekTable, MasterKeyTable } from './schema.js';

/** The columns that make a DekRecord; the timestamps stay in the database. */
const DEK_COLUMNS = ['id', 'provider', 'key_id', 'kcv', 'mechanism', 'wrapped'] as const;

/**
 * Canaries and wrapped DEKs. Provider and mechanism are returned as stored and not checked against
 * the known kinds: the services compare them with the configured providers and report a mismatch.
 */
export class KyselyKeyRepository implements KeyRepository {
  readonly #db: Kysely<Database>;
  readonly #dialect: Store['dialect'];

  constructor(db: Kysely<Database>, dialect: Store['dialect']) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async findCanary(
    ref: Pick<MasterKeyRef, 'provider' | 'keyId'>,
  ): Promise<CanaryRecord | undefined> {
    const row = await this.#db
      .selectFrom('master_keys')
      .selectAll()
      .where('provider', '=', ref.provider)
      .where('key_id', '=', ref.keyId)
      .executeTakeFirst();
    return row === undefined ? undefined : toCanaryRecord(row);
  }

  async listCanaries(): Promise<CanaryRecord[]> {
    const rows = await this.#db
      .selectFrom('master_keys')
      .selectAll()
      .orderBy('created_at')
      .orderBy('provider')
      .orderBy('key_id')
      .execute();
    return rows.map(toCanaryRecord);
  }

  async insertCanary(record: CanaryRecord): Promise<void> {
    await this.#db
      .insertInto('master_keys')
      .values({
        provider: record.ref.provider,
        key_id: record.ref.keyId,
        kcv: record.ref.kcv,
        mechanism: record.mechanism,
        canary: record.canary,
        created_at: record.createdAt,
      })
      .onConflict((conflict) => conflict.columns(['provider', 'key_id']).doNothing())
      .execute();
  }

  async insertDek(record: DekRecord): Promise<void> {
    await insertDek(this.#db, record);
  }

  async findDek(id: string): Promise<DekRecord | undefined> {
    const row = await this.#db
      .selectFrom('deks')
      .select(DEK_COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toDekRecord(row);
  }

  async countDeksByKey(): Promise<DekCount[]> {
    const rows = await this.#db
      .selectFrom('deks')
      .select(['provider', 'key_id', 'kcv'])
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .groupBy(['provider', 'key_id', 'kcv'])
      .orderBy('provider')
      .orderBy('key_id')
      .orderBy('kcv')
      .execute();
    return rows.map((row) => ({
      ref: { provider: row.provider as ProviderKind, keyId: row.key_id, kcv: row.kcv },
      count: row.count,
    }));
  }

  async listDeksNotUnder(
    ref: MasterKeyRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<DekRecord[]> {
    const rows = await this.#db
      .selectFrom('deks')
      .select(DEK_COLUMNS)
      .where((eb) =>
        eb.not(
          eb.and([
            eb('provider', '=', ref.provider),
            eb('key_id', '=', ref.keyId),
            eb('kcv', '=', ref.kcv),
          ]),
        ),
      )
      .$if(afterId !== undefined, (query) => query.where('id', '>', afterId as string))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toDekRecord);
  }

  async listDeksUnder(
    ref: MasterKeyRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<DekRecord[]> {
    // Every row names `ref`, so its key columns are not read back, which saves parsing three
    // strings per row in the verify pass.
    const rows = await this.#db
      .selectFrom('deks')
      .select(['id', 'mechanism', 'wrapped'])
      .where('provider', '=', ref.provider)
      .where('key_id', '=', ref.keyId)
      .where('kcv', '=', ref.kcv)
      .$if(afterId !== undefined, (query) => query.where('id', '>', afterId as string))
      .orderBy('id')
      .limit(limit)
      .execute();
    const shared = { ...ref };
    return rows.map((row) => ({
      id: row.id,
      ref: shared,
      mechanism: row.mechanism as WrapMechanism,
      wrapped: row.wrapped,
    }));
  }

  async rewrapDek(id: string, expected: MasterKeyRef, next: RewrappedDek): Promise<boolean> {
    const result = await this.#db
      .updateTable('deks')
      .set({
        provider: next.ref.provider,
        key_id: next.ref.keyId,
        kcv: next.ref.kcv,
        mechanism: next.mechanism,
        wrapped: next.wrapped,
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', id)
      .where('provider', '=', expected.provider)
      .where('key_id', '=', expected.keyId)
      .where('kcv', '=', expected.kcv)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  async rewrapDeks(
    expected: MasterKeyRef,
    next: MasterKeyRef,
    rows: readonly RewrappedRow[],
  ): Promise<Set<string>> {
    const changed = new Set<string>();
    if (rows.length === 0) {
      return changed;
    }
    if (this.#dialect === 'postgres') {
      // PostgreSQL receives the whole page as arrays in one UPDATE. A single statement is atomic,
      // so it needs no transaction around it, which saves two round trips per page.
      const result = await rewrapStatement(this.#dialect, expected, next, rows).execute(this.#db);
      return new Set(result.rows.map((row) => row.id));
    }

    const write = () =>
      this.#db.transaction().execute(async (transaction) => {
        for (let start = 0; start < rows.length; start += ROWS_PER_REWRAP_STATEMENT) {
          const slice = rows.slice(start, start + ROWS_PER_REWRAP_STATEMENT);
          const ids = await rewrapStatement(this.#dialect, expected, next, slice).execute(
            transaction,
          );
          for (const row of ids.rows) {
            changed.add(row.id);
          }
        }
      });
    await this.#withoutDiskWait(write);
    return changed;
  }

  /**
   * Runs `write` with PRAGMA synchronous = NORMAL, so that its commit does not wait for the disk.
   * In WAL mode a power cut can then undo the last such commits, but never part of one, and the
   * next commit with the default FULL setting makes every earlier commit durable. A re-wrapped
   * page that is undone is wholly under its old key again, which still opens it, and the next
   * migration run moves it.
   */
  async #withoutDiskWait(write: () => Promise<void>): Promise<void> {
    await sql`pragma synchronous = normal`.execute(this.#db);
    try {
      await write();
    } finally {
      await sql`pragma synchronous = full`.execute(this.#db);
    }
  }
}

/**
 * Inserts a DEK row stamped with the current time. Throws SR_CONFLICT when a DEK has the same id.
 * Shared with the vault repository, which inserts a DEK and its account in one transaction.
 */
export async function insertDek(db: Kysely<Database>, record: DekRecord): Promise<void> {
  const now = new Date().toISOString();
  try {
    await db
      .insertInto('deks')
      .values({
        id: record.id,
        provider: record.ref.provider,
        key_id: record.ref.keyId,
        kcv: record.ref.kcv,
        mechanism: record.mechanism,
        wrapped: record.wrapped,
        created_at: now,
        updated_at: now,
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error, constraints.deksPrimaryKey)) {
      throw new StrongroomError('SR_CONFLICT', `A DEK with the id '${record.id}' exists.`, {
        cause: error,
        details: { dekId: record.id },
      });
    }
    throw error;
  }
}

function toCanaryRecord(row: Selectable<MasterKeyTable>): CanaryRecord {
  return {
    ref: { provider: row.provider as ProviderKind, keyId: row.key_id, kcv: row.kcv },
    mechanism: row.mechanism as WrapMechanism,
    canary: row.canary,
    createdAt: row.created_at,
  };
}

function toDekRecord(row: Pick<Selectable<DekTable>, (typeof DEK_COLUMNS)[number]>): DekRecord {
  return {
    id: row.id,
    ref: { provider: row.provider as ProviderKind, keyId: row.key_id, kcv: row.kcv },
    mechanism: row.mechanism as WrapMechanism,
    wrapped: row.wrapped,
  };
}
