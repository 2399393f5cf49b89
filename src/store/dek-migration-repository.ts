import { sql, type Kysely, type Selectable } from 'kysely';

import type { ProviderKind } from '../keys/types.js';
import { deleteLockRow, tryPostgresLock, trySqliteLock } from './migration-lock.js';
import type {
  DekMigrationRepository,
  MigrationCounts,
  MigrationLockAttempt,
  MigrationLockHolder,
  MigrationRunOutcome,
  MigrationRunRecord,
  Store,
} from './repositories.js';
import type { Database, DekMigrationRunTable } from './schema.js';

/** The journal of DEK migration runs and the migration lock, on either dialect. */
export class KyselyDekMigrationRepository implements DekMigrationRepository {
  readonly #db: Kysely<Database>;
  readonly #dialect: Store['dialect'];

  constructor(db: Kysely<Database>, dialect: Store['dialect']) {
    this.#db = db;
    this.#dialect = dialect;
  }

  tryLock(holder: MigrationLockHolder): Promise<MigrationLockAttempt> {
    return this.#dialect === 'postgres'
      ? tryPostgresLock(this.#db, holder)
      : trySqliteLock(this.#db, holder);
  }

  async breakLock(holder: MigrationLockHolder): Promise<boolean> {
    if (this.#dialect === 'postgres') {
      return false;
    }
    return deleteLockRow(this.#db, holder);
  }

  async isReadOnlyStandby(): Promise<boolean> {
    if (this.#dialect === 'sqlite') {
      return false;
    }
    const { rows } = await sql<{
      standby: boolean;
    }>`select pg_is_in_recovery() as standby`.execute(this.#db);
    return rows[0]?.standby === true;
  }

  async insertRun(run: MigrationRunRecord): Promise<void> {
    await this.#db
      .insertInto('dek_migration_runs')
      .values({
        id: run.id,
        started_at: run.startedAt,
        finished_at: run.finishedAt ?? null,
        command: run.command,
        source_provider: run.source.provider,
        source_key_id: run.source.keyId,
        source_kcv: run.source.kcv,
        target_provider: run.target.provider,
        target_key_id: run.target.keyId,
        target_kcv: run.target.kcv,
        dry_run: run.dryRun ? 1 : 0,
        migrated: run.migrated,
        skipped: run.skipped,
        unknown: run.unknown,
        failed: run.failed,
        outcome: run.outcome,
        host: run.host,
        pid: run.pid,
      })
      .execute();
  }

  async finishRun(
    id: string,
    result: MigrationCounts & { outcome: MigrationRunOutcome; finishedAt: string },
  ): Promise<void> {
    await this.#db
      .updateTable('dek_migration_runs')
      .set({
        finished_at: result.finishedAt,
        migrated: result.migrated,
        skipped: result.skipped,
        unknown: result.unknown,
        failed: result.failed,
        outcome: result.outcome,
      })
      .where('id', '=', id)
      .execute();
  }

  async updateRunCounts(id: string, counts: MigrationCounts): Promise<void> {
    await this.#db
      .updateTable('dek_migration_runs')
      .set({
        migrated: counts.migrated,
        skipped: counts.skipped,
        unknown: counts.unknown,
        failed: counts.failed,
      })
      .where('id', '=', id)
      .where('outcome', '=', 'running')
      .execute();
  }

  async abandonRunningRuns(finishedAt: string): Promise<number> {
    const result = await this.#db
      .updateTable('dek_migration_runs')
      .set({ outcome: 'abandoned', finished_at: finishedAt })
      .where('outcome', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listRuns(limit: number): Promise<MigrationRunRecord[]> {
    const rows = await this.#db
      .selectFrom('dek_migration_runs')
      .selectAll()
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toRunRecord);
  }
}

function toRunRecord(row: Selectable<DekMigrationRunTable>): MigrationRunRecord {
  return {
    id: row.id,
    command: row.command as MigrationRunRecord['command'],
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    source: {
      provider: row.source_provider as ProviderKind,
      keyId: row.source_key_id,
      kcv: row.source_kcv,
    },
    target: {
      provider: row.target_provider as ProviderKind,
      keyId: row.target_key_id,
      kcv: row.target_kcv,
    },
    dryRun: row.dry_run === 1,
    migrated: row.migrated,
    skipped: row.skipped,
    unknown: row.unknown,
    failed: row.failed,
    outcome: row.outcome as MigrationRunOutcome,
    host: row.host,
    pid: row.pid,
  };
}
