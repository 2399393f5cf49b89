import { randomUUID } from 'node:crypto';

import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';

import { openGcm, sealGcm } from '../../src/crypto/aes-gcm.js';
import { secretAssociatedData } from '../../src/crypto/associated-data.js';
import { isStrongroomError } from '../../src/errors.js';
import type { Keyring } from '../../src/keys/keyring.js';
import { connect } from '../../src/store/connect.js';
import type { AccountRecord, DekRecord, Store } from '../../src/store/index.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { migrations } from '../../src/store/migrations/index.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import { describeEachDialect, type DialectContext } from '../support/databases.js';
import { openFileKeyring } from '../support/file-keyring.js';

const VERSIONS_MIGRATION = '0006_secret_versions_and_api_tokens';

describeEachDialect('secret version migration', (context) => {
  it('moves existing secrets without re-encrypting', async () => {
    const url = await context.createDatabase();
    await migrateBefore(url, VERSIONS_MIGRATION);
    const opened = await context.openStore({ url, migrate: false });
    const { keyring, close } = await openFileKeyring(opened.keys, context.logger);

    const legacy = [
      await sealLegacy(keyring, 'legacy root password', 1),
      await sealLegacy(keyring, 'legacy oracle password', 4),
    ];
    await insertLegacyRows(url, legacy);
    await opened.close();

    const store = await context.openStore({ url });

    for (const row of legacy) {
      const account = await store.vault.findAccount(row.accountId);
      expect(account?.secretCiphertext.equals(row.ciphertext)).toBe(true);
      expect(account?.dekId).toBe(row.dek.id);
      expect(account?.secretVersion).toBe(row.version);
      expect(account?.secretType).toBe('password');
      expect(await decrypt(keyring, store, account)).toBe(row.secret);

      const versions = await store.secretVersions.listVersions(row.accountId);
      expect(versions).toEqual([
        {
          accountId: row.accountId,
          version: row.version,
          secretType: 'password',
          dekId: row.dek.id,
          createdAt: '2026-02-03T04:05:06.000Z',
          createdBy: '',
          reason: 'Stored before secret versions were kept.',
        },
      ]);
    }
    const columns = await listAccountColumns(context, url);
    expect(columns).not.toContain('secret_ciphertext');
    expect(columns).toContain('dek_id');
    await close();
  });

  it('migrates an empty database', async () => {
    const url = await context.createDatabase();
    await migrateBefore(url, VERSIONS_MIGRATION);

    const store = await context.openStore({ url });

    expect(await store.vault.listTargets()).toEqual([]);
  });

  /** Runs every migration before `name`, so the database has the schema of the release before. */
  async function migrateBefore(url: string, name: string): Promise<void> {
    const index = migrations.findIndex((migration) => migration.name === name);
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: context.logger,
      poolSize: 1,
    });
    try {
      await migrateToLatest(db, context.dialect, migrations.slice(0, index), context.logger);
    } finally {
      await db.destroy();
    }
  }

  /** Inserts target, DEK and account rows the way the release before versions stored them. */
  async function insertLegacyRows(url: string, rows: LegacySecret[]): Promise<void> {
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: context.logger,
      poolSize: 1,
    });
    try {
      for (const [index, row] of rows.entries()) {
        const targetId = randomUUID();
        const at = '2026-02-03T04:05:06.000Z';
        await sql`insert into targets (id, name, address, description, created_at)
          values (${targetId}, ${`legacy-${index}`}, '10.0.0.1', '', ${at})`.execute(db);
        await sql`insert into deks (id, provider, key_id, kcv, mechanism, wrapped, created_at, updated_at)
          values (${row.dek.id}, ${row.dek.ref.provider}, ${row.dek.ref.keyId}, ${row.dek.ref.kcv},
            ${row.dek.mechanism}, ${row.dek.wrapped}, ${at}, ${at})`.execute(db);
        await sql`insert into accounts
          (id, target_id, username, description, dek_id, secret_ciphertext, secret_version, created_at, updated_at)
          values (${row.accountId}, ${targetId}, 'root', '', ${row.dek.id}, ${row.ciphertext},
            ${row.version}, ${at}, ${at})`.execute(db);
      }
    } finally {
      await db.destroy();
    }
  }
});

describeEachDialect('secret version repository', (context) => {
  let store: Store;
  let keyring: Keyring;
  let closeKeyring: () => Promise<void>;

  beforeEach(async () => {
    store = await context.openStore();
    ({ keyring, close: closeKeyring } = await openFileKeyring(store.keys, context.logger));
    await store.vault.insertTarget({
      id: 't-1',
      name: 'db-01',
      address: '10.0.0.1',
      description: '',
      createdAt: '2026-01-01T00:00:00.000Z',
    });
  });

  afterEach(async () => {
    await closeKeyring();
  });

  it('adds a version under a new DEK', async () => {
    const first = await sealLegacy(keyring, 'first', 1);
    await store.vault.insertAccountWithDek(accountOf(first), first.dek, {
      createdBy: 'admin1',
      reason: 'Account created.',
    });
    const second = await sealLegacy(keyring, 'second', 2, first.accountId);

    await store.secretVersions.addVersion(versionOf(second, 'rotated'), second.dek);

    const account = await store.vault.findAccount(first.accountId);
    expect(account?.secretVersion).toBe(2);
    expect(account?.dekId).toBe(second.dek.id);
    expect(await decrypt(keyring, store, account)).toBe('second');
    const versions = await store.secretVersions.listVersions(first.accountId);
    expect(versions.map((version) => [version.version, version.createdBy, version.reason])).toEqual(
      [
        [2, 'admin2', 'rotated'],
        [1, 'admin1', 'Account created.'],
      ],
    );
    expect(new Set(versions.map((version) => version.dekId)).size).toBe(2);
    expect(await store.keys.findDek(first.dek.id)).toBeDefined();
  });

  it('stale version is a conflict', async () => {
    const first = await sealLegacy(keyring, 'first', 1);
    await store.vault.insertAccountWithDek(accountOf(first), first.dek);
    const second = await sealLegacy(keyring, 'second', 2, first.accountId);
    await store.secretVersions.addVersion(versionOf(second, 'a'), second.dek);
    const competing = await sealLegacy(keyring, 'competing', 2, first.accountId);

    const error = await store.secretVersions
      .addVersion(versionOf(competing, 'b'), competing.dek)
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_SECRET_VERSION_CONFLICT')).toBe(true);
    expect(await store.keys.findDek(competing.dek.id)).toBeUndefined();
    expect((await store.vault.findAccount(first.accountId))?.dekId).toBe(second.dek.id);
  });

  it('missing account is not found', async () => {
    const orphan = await sealLegacy(keyring, 'orphan', 2);

    const error = await store.secretVersions
      .addVersion(versionOf(orphan, 'x'), orphan.dek)
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_NOT_FOUND')).toBe(true);
  });

  it('removes the latest version', async () => {
    const first = await sealLegacy(keyring, 'first', 1);
    await store.vault.insertAccountWithDek(accountOf(first), first.dek);
    const second = await sealLegacy(keyring, 'second', 2, first.accountId);
    const version = versionOf(second, 'undo me');
    await store.secretVersions.addVersion(version, second.dek);

    const removed = await store.secretVersions.removeLatestVersion(version, {
      version: 1,
      dekId: first.dek.id,
      updatedAt: '2026-01-02T00:00:00.000Z',
      rotationRequired: true,
    });

    expect(removed).toBe(true);
    const account = await store.vault.findAccount(first.accountId);
    expect(account?.secretVersion).toBe(1);
    expect(account?.rotationRequired).toBe(true);
    expect(await decrypt(keyring, store, account)).toBe('first');
    expect(await store.keys.findDek(second.dek.id)).toBeUndefined();
    expect(await store.secretVersions.listVersions(first.accountId)).toHaveLength(1);
  });
});

interface LegacySecret {
  accountId: string;
  secret: string;
  version: number;
  dek: DekRecord;
  ciphertext: Buffer;
}

async function sealLegacy(
  keyring: Keyring,
  secret: string,
  version: number,
  accountId: string = randomUUID(),
): Promise<LegacySecret> {
  const { record, dek } = await keyring.newDek();
  try {
    const ciphertext = sealGcm(
      dek,
      Buffer.from(secret, 'utf8'),
      secretAssociatedData(accountId, record.id, version),
    );
    return { accountId, secret, version, dek: record, ciphertext };
  } finally {
    dek.fill(0);
  }
}

function accountOf(sealed: LegacySecret): AccountRecord {
  return {
    id: sealed.accountId,
    targetId: 't-1',
    username: `user-${sealed.accountId.slice(0, 8)}`,
    description: '',
    dekId: sealed.dek.id,
    secretCiphertext: sealed.ciphertext,
    secretVersion: sealed.version,
    secretType: 'password',
    createdAt: '2026-01-02T00:00:00.000Z',
    updatedAt: '2026-01-02T00:00:00.000Z',
  };
}

function versionOf(sealed: LegacySecret, reason: string) {
  return {
    accountId: sealed.accountId,
    version: sealed.version,
    secretType: 'password',
    dekId: sealed.dek.id,
    secretCiphertext: sealed.ciphertext,
    createdAt: '2026-01-03T00:00:00.000Z',
    createdBy: 'admin2',
    reason,
  };
}

async function decrypt(
  keyring: Keyring,
  store: Store,
  account: AccountRecord | undefined,
): Promise<string> {
  if (account === undefined) {
    throw new Error('account not found');
  }
  const dekRecord = await store.keys.findDek(account.dekId);
  if (dekRecord === undefined) {
    throw new Error(`DEK ${account.dekId} not found`);
  }
  const dek = await keyring.openDek(dekRecord);
  return openGcm(
    dek,
    account.secretCiphertext,
    secretAssociatedData(account.id, account.dekId, account.secretVersion),
  ).toString('utf8');
}

async function listAccountColumns(context: DialectContext, url: string): Promise<string[]> {
  const statement =
    context.dialect === 'sqlite'
      ? `select name from pragma_table_info('accounts')`
      : `select column_name as name from information_schema.columns where table_name = 'accounts'`;
  const rows = await context.runSql(url, statement);
  return rows.map((row) => String(row.name));
}
