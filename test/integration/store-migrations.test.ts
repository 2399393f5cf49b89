import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { connect } from '../../src/store/connect.js';
import { openStore } from '../../src/store/index.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { migrations, type StoreMigration } from '../../src/store/migrations/index.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import { describeEachDialect, silentLogger, type DialectContext } from '../support/databases.js';

const TABLES = [
  'account_secret_versions',
  'accounts',
  'api_sessions',
  'api_token_accounts',
  'api_tokens',
  'audit_events',
  'dek_migration_lock',
  'dek_migration_runs',
  'deks',
  'master_keys',
  'targets',
  'users',
];

describeEachDialect('store migrations', (context) => {
  it('creates every table and index', async () => {
    const url = await context.createDatabase();
    await context.openStore({ url });

    expect(await listTables(context, url)).toEqual(expect.arrayContaining(TABLES));
    expect(await listIndexes(context, url)).toEqual(
      expect.arrayContaining([
        'deks_provider_key_id_kcv_id_idx',
        'accounts_dek_id_idx',
        'api_sessions_expires_at_idx',
      ]),
    );
    expect(await listIndexes(context, url)).not.toContain('deks_provider_key_id_idx');
    expect(await appliedMigrations(context, url)).toEqual(
      migrations.map((migration) => migration.name),
    );
  });

  it('second open changes nothing', async () => {
    const url = await context.createDatabase();
    const first = await context.openStore({ url });
    await first.vault.insertTarget({
      id: 't1',
      name: 'db-primary',
      address: '10.0.0.5',
      description: '',
      createdAt: '2026-01-02T03:04:05.000Z',
    });
    await first.close();

    const second = await context.openStore({ url });

    expect(await appliedMigrations(context, url)).toEqual(
      migrations.map((migration) => migration.name),
    );
    expect((await second.vault.listTargets()).map((target) => target.name)).toEqual(['db-primary']);
  });

  it('rejects a schema from a newer release', async () => {
    const url = await context.createDatabase();
    const store = await context.openStore({ url });
    await store.close();
    await context.runSql(
      url,
      `insert into kysely_migration (name, timestamp) values ('9999_from_the_future', '2030-01-01T00:00:00.000Z')`,
    );

    const error = await context.openStore({ url }).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_DB_SCHEMA_NEWER')).toBe(true);
    expect((error as StrongroomError).message).toContain('9999_from_the_future');
    expect((error as StrongroomError).message).toContain(
      `its latest is ${migrations.at(-1)?.name}`,
    );
  });

  it('rejects a newer schema without migrating', async () => {
    const url = await context.createDatabase();
    const store = await context.openStore({ url });
    await store.close();
    await context.runSql(
      url,
      `insert into kysely_migration (name, timestamp) values ('9999_later', '2030-01-01T00:00:00.000Z')`,
    );

    const error = await context
      .openStore({ url, migrate: false })
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_DB_SCHEMA_NEWER')).toBe(true);
  });

  it('migrate false leaves an empty database empty', async () => {
    const url = await context.createDatabase();

    const store = await context.openStore({ url, migrate: false });
    await store.ping();

    expect(await listTables(context, url)).not.toContain('deks');
  });

  it('failed migration names itself and leaves nothing', async () => {
    const url = await context.createDatabase();
    // A table of another application with a name the first migration needs.
    await context.runSql(url, 'create table targets (legacy_id integer)');

    const error = await context.openStore({ url }).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_DB_MIGRATION_FAILED')).toBe(true);
    expect((error as StrongroomError).message).toMatch(/^Schema migration 0001_initial failed: /);
    expect((error as StrongroomError).details.migration).toBe('0001_initial');
    const tables = await listTables(context, url);
    expect(tables).not.toContain('deks');
    expect(tables).not.toContain('master_keys');
  });

  it('failed migration reports the results so far', async () => {
    const url = await context.createDatabase();
    const failing: StoreMigration[] = [
      ...migrations,
      {
        name: '9001_add_notes',
        up: (db) => db.schema.createTable('notes').addColumn('id', 'text').execute(),
      },
      {
        name: '9002_broken',
        up: async (db) => {
          await sql`select * from no_such_table`.execute(db);
        },
      },
      {
        name: '9003_never',
        up: (db) => db.schema.createTable('never').addColumn('id', 'text').execute(),
      },
    ];
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: context.logger,
      poolSize: 2,
    });

    const error = await migrateToLatest(db, context.dialect, failing, context.logger)
      .catch((caught: unknown) => caught)
      .finally(() => db.destroy());

    expect(isStrongroomError(error, 'SR_DB_MIGRATION_FAILED')).toBe(true);
    const { message, details } = error as StrongroomError;
    expect(message).toMatch(/^Schema migration 9002_broken failed: .*no_such_table/);
    expect(details.results).toBe(
      [
        ...migrations.map((migration) => `${migration.name} rolled back`),
        '9001_add_notes rolled back',
        '9002_broken failed',
        '9003_never not run',
      ].join(', '),
    );
    expect(await listTables(context, url)).not.toContain('notes');
    expect(await listTables(context, url)).not.toContain('deks');
  });
});

describe('store migrations without a database', () => {
  it('runs the migrations in name order', () => {
    const names = migrations.map((migration) => migration.name);

    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it('rejects a pool size of zero', async () => {
    const options = { baseDir: '/nonexistent', logger: silentLogger(), poolSize: 0 };

    const error = await openStore('sqlite:unused.db', options).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe('poolSize must be a positive integer, got 0');
  });
});

async function listTables(context: DialectContext, url: string): Promise<string[]> {
  const statement =
    context.dialect === 'sqlite'
      ? `select name from sqlite_master where type = 'table'`
      : `select table_name as name from information_schema.tables where table_schema = 'public'`;
  const rows = await context.runSql(url, statement);
  return rows.map((row) => String(row.name));
}

async function listIndexes(context: DialectContext, url: string): Promise<string[]> {
  const statement =
    context.dialect === 'sqlite'
      ? `select name from sqlite_master where type = 'index'`
      : `select indexname as name from pg_indexes where schemaname = 'public'`;
  const rows = await context.runSql(url, statement);
  return rows.map((row) => String(row.name));
}

async function appliedMigrations(context: DialectContext, url: string): Promise<string[]> {
  const rows = await context.runSql(url, 'select name from kysely_migration order by name');
  return rows.map((row) => String(row.name));
}
