import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/index.js';
import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { runDekMigration } from '../../src/rotation/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { createVaultService } from '../../src/vault/service.js';
import type { Actor } from '../../src/vault/types.js';
import { runCli } from '../support/cli.js';
import { silentLogger } from '../support/databases.js';
import {
  configureCluster,
  findFreePort,
  findPostgresBinDir,
  initCluster,
  makeServerFolder,
  runAsPostgres,
  startCluster,
  stopCluster,
} from '../support/postgres.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const ACCOUNTS = 5;
const KEY_LABEL = 'pam-master-key';
const REPLAY_TIMEOUT_MS = 30_000;
const ADMIN: Actor = {
  userId: 'admin-id',
  username: 'admin',
  role: 'administrator',
  clientAddress: '127.0.0.1',
};

const binDir = findPostgresBinDir();
const inCi = process.env.CI !== undefined && process.env.CI !== '';

// The suite needs its own clusters, so a shared server from STRONGROOM_TEST_POSTGRES_URL is not
// enough. Under CI it runs even without the binaries, and fails in beforeAll with the reason.
describe.skipIf(binDir === undefined && !inCi)('dek migrate on a standby', () => {
  const logger = silentLogger();
  let root: string;
  let primaryDir: string;
  let standbyDir: string;
  let primaryUrl: string;
  let standbyUrl: string;
  let source: MasterKeyProvider;
  let target: MasterKeyProvider;
  let primary: Store;
  const started: string[] = [];

  beforeAll(async () => {
    if (binDir === undefined) {
      throw new Error(
        'PostgreSQL binaries (initdb, pg_ctl, pg_basebackup) not found, and CI is set. Install the Debian package postgresql or set STRONGROOM_TEST_POSTGRES_BIN.',
      );
    }
    const bin = binDir;
    root = await makeServerFolder();
    primaryDir = path.join(root, 'primary');
    standbyDir = path.join(root, 'standby');

    const primaryPort = await findFreePort();
    await initCluster(bin, primaryDir);
    await configureCluster(primaryDir, { port: primaryPort, socketDir: root });
    await startCluster(bin, primaryDir);
    started.push(primaryDir);
    await runSql(`postgres://postgres@127.0.0.1:${primaryPort}/postgres`, 'create database vault');
    primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/vault`;

    source = await openFileKey(path.join(root, 'source.key'));
    target = await openFileKey(path.join(root, 'target.key'));
    primary = await openStore(primaryUrl, { baseDir: root, logger });
    await seedAccounts(primary, source);

    const standbyPort = await findFreePort();
    await runAsPostgres(path.join(bin, 'pg_basebackup'), [
      `--pgdata=${standbyDir}`,
      `--host=${root}`,
      `--port=${primaryPort}`,
      '--username=postgres',
      '--write-recovery-conf',
      '--checkpoint=fast',
      '--wal-method=stream',
    ]);
    await configureCluster(standbyDir, { port: standbyPort, socketDir: root });
    await startCluster(bin, standbyDir);
    started.push(standbyDir);
    standbyUrl = `postgres://postgres@127.0.0.1:${standbyPort}/vault`;

    await waitForReplay(primaryUrl, standbyUrl);
  });

  afterAll(async () => {
    await primary?.close();
    await source?.close();
    await target?.close();
    for (const dataDir of started.reverse()) {
      await stopCluster(binDir as string, dataDir).catch(() => undefined);
    }
    if (root !== undefined) {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('standby is in recovery with the seeded DEKs', async () => {
    const [recovery] = await runSql(standbyUrl, 'select pg_is_in_recovery() as standby');
    const [deks] = await runSql(standbyUrl, 'select count(*)::int as count from deks');

    expect(recovery?.standby).toBe(true);
    expect(deks?.count).toBe(ACCOUNTS);
  });

  it('engine rejects the standby and writes nothing', async () => {
    const before = await snapshot(primaryUrl);
    const standby = await openStore(standbyUrl, { baseDir: root, logger });

    const error = await runDekMigration({
      store: standby,
      source,
      target,
      command: 'migrate',
      audit: createAuditLog(standby, logger),
      actor: 'os:tester',
      logger,
      dryRun: false,
    })
      .catch((caught: unknown) => caught)
      .finally(() => standby.close());

    expect(isStrongroomError(error, 'SR_DEK_MIGRATION_STANDBY')).toBe(true);
    expect((error as StrongroomError).message).toMatch(/read-only PostgreSQL standby/);
    expect((error as StrongroomError).message).toMatch(/against the primary server/);
    expect(await snapshot(primaryUrl)).toEqual(before);
    expect(await snapshot(standbyUrl)).toEqual(before);
    expect(before.lockRows).toBe(0);
    expect(before.runs).toBe(0);
    expect(before.deks).toHaveLength(ACCOUNTS);
    expect(before.masterKeys).toHaveLength(1);
  });

  describe.runIf(softHsmAvailable())('command', () => {
    let fixture: SoftHsmFixture;
    let home: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: 'standby' });
      await fixture.generateKey(KEY_LABEL);
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
      home = path.join(root, 'home');
      const pinFile = path.join(root, 'hsm.pin');
      await fs.writeFile(pinFile, `${fixture.userPin}\n`, { mode: 0o600 });
      env = {
        SOFTHSM2_CONF: fixture.configPath,
        STRONGROOM_HSM_PIN_FILE: pinFile,
        STRONGROOM_HSM_PIN: '',
      };

      // init writes its key's canary, which a read-only standby rejects, so the home starts on the
      // primary and is pointed at the standby once the standby has replayed the canary.
      const init = await runCli(['init', '--home', home, '--database-url', primaryUrl]);
      expect(init.code).toBe(0);
      const providerFile = path.join(home, 'security', 'hsm', 'pkcs11.conf');
      await fs.mkdir(path.dirname(providerFile), { recursive: true });
      await fs.writeFile(
        providerFile,
        `name = Strongroom\nlibrary = ${fixture.library}\ntokenLabel = ${fixture.tokenLabel}\n`,
      );
      await fs.appendFile(
        path.join(home, 'security', 'security.properties'),
        `hsm.provider.configPath = ${providerFile}\nhsm.keystore.alias = ${KEY_LABEL}\n`,
      );
      const settingsFile = path.join(home, 'strongroom.properties');
      const settings = await fs.readFile(settingsFile, 'utf8');
      await fs.writeFile(
        settingsFile,
        settings.replace(`database.url = ${primaryUrl}`, `database.url = ${standbyUrl}`),
      );
      await waitForReplay(primaryUrl, standbyUrl);
    });

    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('dek migrate rejects the standby', async () => {
      const before = await snapshot(primaryUrl);

      const result = await runCli(['dek', 'migrate', '--home', home, '--to', 'hsm', '--yes'], {
        env,
      });

      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('SR_DEK_MIGRATION_STANDBY');
      expect(result.stderr).toMatch(/read-only PostgreSQL standby/);
      expect(result.stderr).toMatch(/against the primary server/);
      expect(await snapshot(primaryUrl)).toEqual(before);
      expect(before.lockRows).toBe(0);
      expect(before.runs).toBe(0);
      expect(
        await fs.readFile(path.join(home, 'security', 'security.properties'), 'utf8'),
      ).not.toMatch(/keyProvider\s*=\s*hsm/);
    });
  });
});

async function openFileKey(keyPath: string): Promise<MasterKeyProvider> {
  await createKeyFile(keyPath);
  const provider = createFileProvider({ path: keyPath });
  await provider.open();
  return provider;
}

/** Creates a target with ACCOUNTS accounts whose DEKs `file` wraps. */
async function seedAccounts(store: Store, file: MasterKeyProvider): Promise<void> {
  const logger = silentLogger();
  const keyring = new Keyring({
    active: file,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(0, 0),
    logger,
  });
  await keyring.verifyCanaries();
  const vault = createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring,
    audit: createAuditLog(store, logger),
    logger,
  });

  const created = await vault.createTarget(
    { name: 'db01', address: 'db01.example.org', description: '' },
    ADMIN,
  );
  for (let index = 0; index < ACCOUNTS; index += 1) {
    await vault.createAccount(
      created.id,
      { username: `user${index}`, description: '', secret: `secret-${index}` },
      ADMIN,
    );
  }
}

/** Waits until the standby has replayed everything the primary had written when this was called. */
async function waitForReplay(primaryUrl: string, standbyUrl: string): Promise<void> {
  const [current] = await runSql(primaryUrl, 'select pg_current_wal_lsn()::text as lsn');
  const lsn = String(current?.lsn);
  const deadline = Date.now() + REPLAY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const [row] = await runSql(
      standbyUrl,
      `select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as replayed`,
    );
    if (row?.replayed === true) {
      return;
    }
    await setTimeout(100);
  }
  throw new Error(`The standby did not replay up to ${lsn} within ${REPLAY_TIMEOUT_MS} ms.`);
}

/** Reads the rows that a migration run would change. */
async function snapshot(url: string): Promise<{
  deks: unknown[];
  masterKeys: unknown[];
  lockRows: number;
  runs: number;
}> {
  const deks = await runSql(url, 'select * from deks order by id');
  const masterKeys = await runSql(url, 'select * from master_keys order by key_id');
  const [locks] = await runSql(url, 'select count(*)::int as count from dek_migration_lock');
  const [runs] = await runSql(url, 'select count(*)::int as count from dek_migration_runs');
  return {
    deks,
    masterKeys,
    lockRows: Number(locks?.count),
    runs: Number(runs?.count),
  };
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
