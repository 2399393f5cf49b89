import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/index.js';
import { dekAssociatedData } from '../../src/crypto/associated-data.js';
import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { runDekMigration, type MigrationOptions } from '../../src/rotation/index.js';
import { openStore, type DekRecord, type Store } from '../../src/store/index.js';
import { createVaultService } from '../../src/vault/service.js';
import type { Actor } from '../../src/vault/types.js';
import { silentLogger, testPostgres } from '../support/databases.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const ACCOUNTS = 300;
/** Rows migrated before the test ends the run's connections. */
const MIGRATED_BEFORE_DROP = 40;
/** The advisory lock key of DEK migrations, as src/store/migration-lock.ts defines it. */
const MIGRATION_LOCK_KEY = 0x5352444b;
const ADMIN: Actor = {
  userId: 'admin-id',
  username: 'admin',
  role: 'administrator',
  clientAddress: '127.0.0.1',
};

const postgres = testPostgres();

describe.skipIf(!postgres.available)('dek migrate with a dropped connection', () => {
  const logger = silentLogger();
  let folder: string;
  let databaseUrl: string;
  let source: MasterKeyProvider;
  let target: MasterKeyProvider;
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    if (!postgres.available) {
      return;
    }
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'strongroom-dropped-'));
    databaseUrl = await createDatabase(postgres.url);
    source = await openFileKey(path.join(folder, 'source.key'));
    target = await openFileKey(path.join(folder, 'target.key'));

    const store = await openStore(databaseUrl, { baseDir: folder, logger });
    try {
      const vault = vaultOver(store, source);
      await keyringOver(store, source).verifyCanaries();
      const created = await vault.createTarget(
        { name: 'db01', address: 'db01.example.org', description: '' },
        ADMIN,
      );
      for (let index = 0; index < ACCOUNTS; index += 1) {
        const secret = `secret-${index}-${Math.random()}`;
        const account = await vault.createAccount(
          created.id,
          { username: `user${index}`, description: '', secret },
          ADMIN,
        );
        secrets.set(account.id, secret);
      }
    } finally {
      await store.close();
    }
  });

  afterAll(async () => {
    await source?.close();
    await target?.close();
    if (postgres.available && databaseUrl !== undefined) {
      await dropDatabase(postgres.url, databaseUrl);
    }
    if (folder !== undefined) {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  function options(store: Store, overrides: Partial<MigrationOptions> = {}): MigrationOptions {
    return {
      store,
      source,
      target,
      command: 'migrate',
      audit: createAuditLog(store, logger),
      actor: 'os:tester',
      logger,
      dryRun: false,
      batchSize: 20,
      ...overrides,
    };
  }

  it('interrupted run keeps whole rows and resumes', async () => {
    const store = await openStore(databaseUrl, { baseDir: folder, logger });
    let terminated: Promise<number> | undefined;
    let migratedAtDrop = 0;

    const outcome = await runDekMigration(
      options(store, {
        onProgress: (progress) => {
          if (terminated === undefined && progress.migrated >= MIGRATED_BEFORE_DROP) {
            migratedAtDrop = progress.migrated;
            terminated = terminateOtherBackends(databaseUrl);
          }
        },
      }),
    ).then(
      (summary) => ({ summary, error: undefined }),
      (error: unknown) => ({ summary: undefined, error }),
    );
    await store.close().catch(() => undefined);

    expect(terminated).toBeDefined();
    expect(await terminated).toBeGreaterThan(0);
    expect(outcome.summary).toBeUndefined();
    if (!isStrongroomError(outcome.error, 'SR_DEK_MIGRATION_LOCK_LOST')) {
      throw new Error(`expected SR_DEK_MIGRATION_LOCK_LOST, got ${String(outcome.error)}`, {
        cause: outcome.error,
      });
    }
    expect((outcome.error as StrongroomError).message).toMatch(/run the command again to resume/);

    const rows = await readDeks(databaseUrl);
    const underTarget = rows.filter((row) => row.ref.keyId === target.ref().keyId);
    const underSource = rows.filter((row) => row.ref.keyId === source.ref().keyId);
    expect(rows).toHaveLength(ACCOUNTS);
    expect(underTarget.length + underSource.length).toBe(ACCOUNTS);
    expect(underTarget.length).toBeGreaterThanOrEqual(migratedAtDrop);
    expect(underSource.length).toBeGreaterThan(0);
    for (const row of underTarget) {
      await expect(openDek(target, row)).resolves.toBe(32);
    }
    for (const row of underSource) {
      await expect(openDek(source, row)).resolves.toBe(32);
    }

    // The journal row says 'failed' when the run could still write it after the drop. When the
    // pooled connection it picked was one of those ended, the row keeps 'running', as after a crash.
    const [run] = await runSql(databaseUrl, 'select outcome from dek_migration_runs');
    expect(['failed', 'running']).toContain(run?.outcome);
    // The lock row only names the last holder and may outlive it. The advisory lock decides.
    expect(await advisoryLocks(databaseUrl)).toBe(0);

    const resumed = await openStore(databaseUrl, { baseDir: folder, logger });
    try {
      const summary = await runDekMigration(options(resumed));

      expect(summary.outcome).toBe('completed');
      expect(summary.migrated).toBe(underSource.length);
      expect(summary.failed).toBe(0);
      expect(summary.verified).toBe(ACCOUNTS);
      const [lock] = await runSql(
        databaseUrl,
        'select count(*)::int as count from dek_migration_lock',
      );
      expect(lock?.count).toBe(0);

      const vault = vaultOver(resumed, target);
      for (const [accountId, secret] of secrets) {
        const revealed = await vault.revealSecret(accountId, 'migration check', ADMIN);
        expect(revealed.secret).toBe(secret);
      }
    } finally {
      await resumed.close();
    }
  });

  function vaultOver(store: Store, active: MasterKeyProvider) {
    return createVaultService({
      vault: store.vault,
      keys: store.keys,
      keyring: keyringOver(store, active),
      audit: createAuditLog(store, logger),
      logger,
    });
  }

  function keyringOver(store: Store, active: MasterKeyProvider): Keyring {
    return new Keyring({
      active,
      secondary: undefined,
      keys: store.keys,
      cache: new DekCache(0, 0),
      logger,
    });
  }
});

async function openFileKey(keyPath: string): Promise<MasterKeyProvider> {
  await createKeyFile(keyPath);
  const provider = createFileProvider({ path: keyPath });
  await provider.open();
  return provider;
}

/** Unwraps a DEK with `provider` and returns its length in bytes, zeroing the plaintext. */
async function openDek(provider: MasterKeyProvider, record: DekRecord): Promise<number> {
  const dek = await provider.unwrap(record, dekAssociatedData(record.id));
  const length = dek.length;
  dek.fill(0);
  return length;
}

/**
 * Ends every other backend on the database with pg_terminate_backend, as a failover or an
 * administrator would, and returns how many it ended.
 */
async function terminateOtherBackends(url: string): Promise<number> {
  const rows = await runSql(
    url,
    `select count(*)::int as count from (
       select pg_terminate_backend(pid) from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid()
     ) as ended`,
  );
  return Number(rows[0]?.count);
}

/** Counts the DEK migration advisory locks held on the database of `url`. */
async function advisoryLocks(url: string): Promise<number> {
  const [row] = await runSql(
    url,
    `select count(*)::int as count from pg_locks
     where locktype = 'advisory' and objid = ${MIGRATION_LOCK_KEY}
       and database = (select oid from pg_database where datname = current_database())`,
  );
  return Number(row?.count);
}

/** Reads every DEK row through a separate store, so the checks share nothing with the run. */
async function readDeks(url: string): Promise<DekRecord[]> {
  const store = await openStore(url, { baseDir: os.tmpdir(), logger: silentLogger() });
  try {
    const records: DekRecord[] = [];
    for (const { ref } of await store.keys.countDeksByKey()) {
      records.push(...(await store.keys.listDeksUnder(ref, undefined, 10_000)));
    }
    return records;
  } finally {
    await store.close();
  }
}

async function runSql(url: string, statement: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(statement)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}
