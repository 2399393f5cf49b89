import { randomBytes, randomUUID } from 'node:crypto';

import { sql, type Kysely } from 'kysely';
import { expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { connect } from '../../src/store/connect.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { migrations, type StoreMigration } from '../../src/store/migrations/index.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import { describeEachDialect } from '../support/databases.js';

const REBUILD_MIGRATION = '0010_deks_in_id_order';
const AT = '2026-03-04T05:06:07.000Z';

interface StoredDek {
  id: string;
  wrapped: Buffer;
}

describeEachDialect('DEK table in id order', (context) => {
  it('keeps every DEK and reference', async () => {
    const url = await context.createDatabase();
    await runMigrations(url, migrations.slice(0, indexOf(REBUILD_MIGRATION)));
    const deks = await withDatabase(url, insertAccounts);

    const store = await context.openStore({ url });

    for (const dek of deks) {
      const found = await store.keys.findDek(dek.id);
      expect(found?.wrapped.equals(dek.wrapped)).toBe(true);
      expect(found?.ref).toEqual({ provider: 'file', keyId: 'master.key', kcv: 'abc123' });
    }
    const referenced = await context.runSql(url, 'select dek_id from accounts order by dek_id');
    expect(referenced.map((row) => row['dek_id'])).toEqual(deks.map((dek) => dek.id).sort());
    if (context.dialect === 'sqlite') {
      const [table] = await context.runSql(
        url,
        "select sql from sqlite_master where name = 'deks'",
      );
      expect(String(table?.['sql'])).toMatch(/without rowid\s*$/i);
    }
  });

  it('still enforces the account references', async () => {
    const url = await context.createDatabase();
    const store = await context.openStore({ url });
    const [dek] = await withDatabase(url, insertAccounts);

    const orphan = withDatabase(url, (db) =>
      insertAccount(db, { id: randomUUID(), wrapped: Buffer.alloc(1) }, false),
    );
    await expect(orphan).rejects.toThrow(/foreign key/i);
    const removal = context.runSql(url, `delete from deks where id = '${dek?.id}'`);
    await expect(removal).rejects.toThrow(/foreign key/i);
    expect(await store.keys.findDek(dek?.id ?? '')).toBeDefined();
  });

  it('rolls back a migration that breaks a reference', async () => {
    const url = await context.createDatabase();
    const breaking: StoreMigration = {
      name: '9001_orphan_account',
      up: async (db) => {
        await insertAccount(
          db as Kysely<unknown>,
          { id: randomUUID(), wrapped: Buffer.alloc(1) },
          false,
        );
      },
    };

    const error = await runMigrations(url, [...migrations, breaking]).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_DB_MIGRATION_FAILED')).toBe(true);
    expect((error as StrongroomError).message).toMatch(/foreign key|reference/i);
    const tables = await context.runSql(
      url,
      context.dialect === 'sqlite'
        ? "select name from sqlite_master where name = 'accounts'"
        : "select tablename from pg_tables where tablename = 'accounts'",
    );
    expect(tables).toEqual([]);
  });

  function indexOf(name: string): number {
    const index = migrations.findIndex((migration) => migration.name === name);
    expect(index).toBeGreaterThan(0);
    return index;
  }

  async function runMigrations(url: string, known: readonly StoreMigration[]): Promise<void> {
    await withDatabase(url, (db) => migrateToLatest(db, context.dialect, known, context.logger));
  }

  async function withDatabase<T>(
    url: string,
    body: (db: Kysely<unknown>) => Promise<T>,
  ): Promise<T> {
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: context.logger,
      poolSize: 1,
    }) as unknown as Kysely<unknown>;
    try {
      return await body(db);
    } finally {
      await db.destroy();
    }
  }
});

/** Inserts 40 DEKs with random ids, each with an account of one target that references it. */
async function insertAccounts(db: Kysely<unknown>): Promise<StoredDek[]> {
  const deks: StoredDek[] = [];
  for (let index = 0; index < 40; index++) {
    const dek = { id: randomUUID(), wrapped: randomBytes(60) };
    await insertAccount(db, dek, true);
    deks.push(dek);
  }
  return deks;
}

/** Inserts an account under a new target, and first its DEK when `withDek` is set. */
async function insertAccount(db: Kysely<unknown>, dek: StoredDek, withDek: boolean): Promise<void> {
  const targetId = randomUUID();
  if (withDek) {
    await sql`insert into deks (id, provider, key_id, kcv, mechanism, wrapped, created_at, updated_at)
      values (${dek.id}, 'file', 'master.key', 'abc123', 'aes-256-gcm', ${dek.wrapped}, ${AT}, ${AT})`.execute(
      db,
    );
  }
  await sql`insert into targets (id, name, address, description, created_at)
    values (${targetId}, ${`t-${targetId}`}, '10.0.0.1', '', ${AT})`.execute(db);
  await sql`insert into accounts
    (id, target_id, username, description, dek_id, secret_version, created_at, updated_at)
    values (${randomUUID()}, ${targetId}, 'root', '', ${dek.id}, 1, ${AT}, ${AT})`.execute(db);
}
