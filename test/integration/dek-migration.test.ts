import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/index.js';
import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { createHsmProvider } from '../../src/keys/hsm/index.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider, MasterKeyRef } from '../../src/keys/types.js';
import { runDekMigration, type MigrationOptions } from '../../src/rotation/index.js';
import type { DekRecord, Store } from '../../src/store/index.js';
import { createVaultService } from '../../src/vault/service.js';
import type { Actor } from '../../src/vault/types.js';
import { describeEachDialect, type DialectContext } from '../support/databases.js';
import { buildSlowModule, compilerAvailable } from '../support/slow-module.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const ACCOUNTS = 30;
const ADMIN: Actor = {
  userId: 'admin-id',
  username: 'admin',
  role: 'administrator',
  clientAddress: '127.0.0.1',
};

const available = softHsmAvailable();

describe.skipIf(!available)('DEK migration engine', () => {
  let fixture: SoftHsmFixture;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey('pam-master-key');
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  describeEachDialect('DEK migration', (context) => {
    let store: Store;
    let file: MasterKeyProvider;
    let hsm: MasterKeyProvider;
    let accounts: { id: string; secret: string }[];

    beforeEach(async () => {
      store = await context.openStore();
      file = await openFileKey(context);
      hsm = createHsmProvider({
        library: fixture.library,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: 'pam-master-key',
        pin: fixture.userPin,
        logger: context.logger,
      });
      await hsm.open();
      accounts = await seedAccounts(store, file, context);
    });

    afterEach(async () => {
      await hsm.close();
      await file.close();
    });

    function options(overrides: Partial<MigrationOptions> = {}): MigrationOptions {
      return {
        store,
        source: file,
        target: hsm,
        command: 'migrate',
        audit: createAuditLog(store, context.logger),
        actor: 'os:tester',
        logger: context.logger,
        dryRun: false,
        // Pages of 7 with 2 in flight leave rows for a second run after an early stop.
        batchSize: 7,
        pagesInFlight: 2,
        ...overrides,
      };
    }

    async function expectSecretsOpen(active: MasterKeyProvider): Promise<void> {
      const vault = vaultOver(store, active, context);
      for (const account of accounts) {
        expect((await vault.revealSecret(account.id, 'migration check', ADMIN)).secret).toBe(
          account.secret,
        );
      }
    }

    it('round trip file to HSM and back', async () => {
      const forward = await runDekMigration(options());

      expect(forward.outcome).toBe('completed');
      expect(forward.migrated).toBe(ACCOUNTS);
      expect(forward.verified).toBe(ACCOUNTS);
      expect(forward.failed).toBe(0);
      expect(await store.keys.countDeksByKey()).toEqual([{ ref: hsm.ref(), count: ACCOUNTS }]);
      await expectSecretsOpen(hsm);

      const back = await runDekMigration(options({ source: hsm, target: file }));

      expect(back.outcome).toBe('completed');
      expect(back.migrated).toBe(ACCOUNTS);
      expect(back.verified).toBe(ACCOUNTS);
      expect(await store.keys.countDeksByKey()).toEqual([{ ref: file.ref(), count: ACCOUNTS }]);
      await expectSecretsOpen(file);
    });

    it('records the journal and audit event', async () => {
      const summary = await runDekMigration(options());

      const [run] = await store.dekMigrations.listRuns(5);
      const events = await store.audit.listEvents({ action: 'key.migrate', limit: 5 });

      expect(run?.id).toBe(summary.runId);
      expect(run?.outcome).toBe('completed');
      expect(run?.migrated).toBe(ACCOUNTS);
      expect(run?.finishedAt).toBeDefined();
      expect(run?.source).toEqual(file.ref());
      expect(run?.target).toEqual(hsm.ref());
      expect(events).toHaveLength(1);
      expect(events[0]?.outcome).toBe('success');
      expect(events[0]?.details.migrated).toBe(ACCOUNTS);
    });

    it('interrupted run resumes', async () => {
      const controller = new AbortController();
      const first = await runDekMigration(
        options({
          signal: controller.signal,
          onProgress: (progress) => {
            if (progress.migrated >= 10) {
              controller.abort();
            }
          },
        }),
      );

      expect(first.outcome).toBe('interrupted');
      expect(first.migrated).toBeGreaterThanOrEqual(10);
      expect(first.migrated).toBeLessThan(ACCOUNTS);
      expect((await store.dekMigrations.listRuns(1))[0]?.outcome).toBe('interrupted');

      const second = await runDekMigration(options());

      expect(second.outcome).toBe('completed');
      expect(second.migrated).toBe(ACCOUNTS - first.migrated);
      expect(second.verified).toBe(ACCOUNTS);
      await expectSecretsOpen(hsm);
    });

    it('wrong source key changes nothing', async () => {
      const before = await allDeks(store);
      const wrong = await openFileKey(context);

      const error = await runDekMigration(options({ source: wrong }))
        .catch((caught: unknown) => caught)
        .finally(() => wrong.close());

      expect(isStrongroomError(error, 'SR_DEK_MIGRATION_SOURCE_INVALID')).toBe(true);
      expect((error as StrongroomError).message).toMatch(/does not open its canary/);
      expect(await allDeks(store)).toEqual(before);
      expect(await store.keys.findCanary(hsm.ref())).toBeUndefined();
      expect(await store.dekMigrations.listRuns(5)).toEqual([]);
    });

    it('rows under an unknown key are untouched', async () => {
      const stranger: DekRecord = {
        id: '00000000-0000-0000-0000-000000000000',
        ref: { provider: 'file', keyId: '0123456789abcdef', kcv: 'abcdef' },
        mechanism: 'aes-256-gcm',
        wrapped: Buffer.from('wrapped by a key nobody has'),
      };
      await store.keys.insertDek(stranger);

      const summary = await runDekMigration(options());

      expect(summary.unknown).toBe(1);
      expect(summary.migrated).toBe(ACCOUNTS);
      expect(await store.keys.findDek(stranger.id)).toEqual(stranger);
    });

    it('failed row is counted and kept', async () => {
      const broken = await corruptCopy(store, 'ffffffff-ffff-ffff-ffff-ffffffffffff');

      const summary = await runDekMigration(options());

      expect(summary.outcome).toBe('failed');
      expect(summary.failed).toBe(1);
      expect(summary.migrated).toBe(ACCOUNTS);
      expect(await store.keys.findDek(broken.id)).toEqual(broken);
      expect((await store.dekMigrations.listRuns(1))[0]?.outcome).toBe('failed');
    });

    it.skipIf(!compilerAvailable())('faulty target leaves rows on source', async () => {
      const before = await allDeks(store);
      // The module flips every third plaintext of each process: the target's canary check in
      // the provider's worker is its first, and in the batch processes every third row fails.
      process.env['SLOW_PKCS11_TARGET'] = fixture.library;
      process.env['SLOW_PKCS11_DELAY_MS'] = '0';
      process.env['SLOW_PKCS11_FLIP_DECRYPT'] = '3';
      const faulty = createHsmProvider({
        library: buildSlowModule(await fs.mkdtemp(path.join(context.baseDir, 'faulty-'))),
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: 'pam-master-key',
        pin: fixture.userPin,
        batchProcesses: 2,
        logger: context.logger,
      });
      let failed = 0;
      try {
        await faulty.open();
        const summary = await runDekMigration(options({ target: faulty }));
        failed = summary.failed;

        expect(summary.failed).toBeGreaterThan(0);
        expect(summary.migrated).toBe(ACCOUNTS - summary.failed);
        expect(summary.outcome).toBe('failed');
        const after = new Map((await allDeks(store)).map((record) => [record.id, record]));
        const unchanged = before.filter((record) => {
          const now = after.get(record.id);
          return now !== undefined && now.wrapped.equals(record.wrapped);
        });
        expect(unchanged).toHaveLength(summary.failed);
        expect(unchanged.every((record) => record.ref.kcv === file.ref().kcv)).toBe(true);
      } finally {
        await faulty.close();
        delete process.env['SLOW_PKCS11_TARGET'];
        delete process.env['SLOW_PKCS11_DELAY_MS'];
        delete process.env['SLOW_PKCS11_FLIP_DECRYPT'];
      }
      // A run on a sound token moves the rows that stayed behind, and every secret still opens.
      const rest = await runDekMigration(options());
      expect(rest.migrated).toBe(failed);
      expect(rest.outcome).toBe('completed');
      await expectSecretsOpen(hsm);
    });

    it('verify pass opens a changed row', async () => {
      // Before the verify pass reads the target's rows, one migrated row gets the bytes of
      // another, which the target key cannot open under this row's id.
      let changedId: string | undefined;
      const keys = new Proxy(store.keys, {
        get(target, property) {
          if (property === 'listDeksUnder') {
            return async (ref: MasterKeyRef, after: string | undefined, limit: number) => {
              if (changedId === undefined && ref.kcv === hsm.ref().kcv) {
                changedId = await swapWrappedBytes(target, ref);
              }
              return target.listDeksUnder(ref, after, limit);
            };
          }
          const value: unknown = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const proxied = new Proxy(store, {
        get: (target, property) =>
          property === 'keys' ? keys : Reflect.get(target, property, target),
      });

      const summary = await runDekMigration(options({ store: proxied }));

      expect(changedId).toBeDefined();
      expect(summary.migrated).toBe(ACCOUNTS);
      expect(summary.verifyFailed).toBe(1);
      expect(summary.verified).toBe(ACCOUNTS - 1);
      expect(summary.outcome).toBe('failed');
    });

    it('bad sample row stops the preflight', async () => {
      await corruptCopy(store, '00000000-0000-0000-0000-000000000001');
      const before = await allDeks(store);

      const error = await runDekMigration(options()).catch((caught: unknown) => caught);

      expect(isStrongroomError(error, 'SR_DEK_MIGRATION_SOURCE_INVALID')).toBe(true);
      expect((error as StrongroomError).message).toContain(
        'cannot open DEK 00000000-0000-0000-0000-000000000001',
      );
      expect(await allDeks(store)).toEqual(before);
      expect(await store.keys.findCanary(hsm.ref())).toBeUndefined();
    });

    it('dry run writes nothing', async () => {
      const before = await allDeks(store);

      const summary = await runDekMigration(options({ dryRun: true }));

      expect(summary.dryRun).toBe(true);
      expect(summary.migrated).toBe(ACCOUNTS);
      expect(await allDeks(store)).toEqual(before);
      expect(await store.keys.findCanary(hsm.ref())).toBeUndefined();
      expect(await store.dekMigrations.listRuns(5)).toEqual([]);
    });

    it('second concurrent run is rejected', async () => {
      const url = await context.createDatabase();
      store = await context.openStore({ url });
      accounts = await seedAccounts(store, file, context);
      const other = await context.openStore({ url });

      const results = await Promise.allSettled([
        runDekMigration(options()),
        runDekMigration({ ...options(), store: other }),
      ]);

      const rejected = results.filter((result) => result.status === 'rejected');
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      const reason = (rejected[0] as PromiseRejectedResult).reason as StrongroomError;
      expect(reason.code).toBe('SR_DEK_MIGRATION_LOCKED');
      await expectSecretsOpen(hsm);
    });

    it('rejected run names the holder', async () => {
      const url = await context.createDatabase();
      store = await context.openStore({ url });
      accounts = await seedAccounts(store, file, context);
      const other = await context.openStore({ url });
      const holder = { host: 'node-b.example', pid: 4242, startedAt: new Date().toISOString() };
      const held = await other.dekMigrations.tryLock(holder);
      expect(held.acquired).toBe(true);

      try {
        const error = await runDekMigration(options()).then(
          () => undefined,
          (failure: unknown) => failure as StrongroomError,
        );
        expect(error?.code).toBe('SR_DEK_MIGRATION_LOCKED');
        expect(error?.message).toContain('process 4242 on node-b.example');
      } finally {
        if (held.acquired) {
          await held.release();
        }
      }

      const summary = await runDekMigration(options());
      expect(summary.migrated).toBe(ACCOUNTS);
    });

    it('lock of an ended process is broken', async () => {
      const ended = spawnSync(process.execPath, ['-e', '']).pid as number;
      const holder = { host: hostname(), pid: ended, startedAt: '2026-03-01T10:00:00.000Z' };
      const stale = await store.dekMigrations.tryLock(holder);
      // A PostgreSQL lock ends with its session, so only the SQLite row can be left behind.
      if (stale.acquired && context.dialect === 'postgres') {
        await stale.release();
      }

      const summary = await runDekMigration(options());

      expect(stale.acquired).toBe(true);
      expect(summary.outcome).toBe('completed');
    });

    it('lock of a live process is kept', async () => {
      const holder = { host: hostname(), pid: process.ppid, startedAt: '2026-03-01T10:00:00.000Z' };
      const held = await store.dekMigrations.tryLock(holder);

      const error = await runDekMigration(options()).catch((caught: unknown) => caught);
      if (held.acquired) {
        await held.release();
      }

      expect(isStrongroomError(error, 'SR_DEK_MIGRATION_LOCKED')).toBe(true);
      expect((error as StrongroomError).message).toBe(
        `Another DEK migration is running (process ${process.ppid} on ${hostname()}, started at 2026-03-01T10:00:00.000Z). Wait for it to finish, or stop it, then run this command again.`,
      );
    });

    it('same source and target is rejected', async () => {
      const error = await runDekMigration(options({ target: file })).catch(
        (caught: unknown) => caught,
      );

      expect(isStrongroomError(error, 'SR_DEK_MIGRATION_SOURCE_INVALID')).toBe(true);
      expect((error as StrongroomError).message).toMatch(/^The source and the target are the same/);
    });
  });
});

async function openFileKey(context: DialectContext): Promise<MasterKeyProvider> {
  const folder = await fs.mkdtemp(path.join(context.baseDir, 'key-'));
  const keyPath = path.join(folder, 'master.key');
  await createKeyFile(keyPath);
  const provider = createFileProvider({ path: keyPath });
  await provider.open();
  return provider;
}

/** Creates a target with ACCOUNTS accounts whose DEKs the file key wraps. */
async function seedAccounts(
  store: Store,
  file: MasterKeyProvider,
  context: DialectContext,
): Promise<{ id: string; secret: string }[]> {
  const vault = vaultOver(store, file, context);
  const keyring = keyringOver(store, file, context);
  await keyring.verifyCanaries();

  const target = await vault.createTarget(
    { name: `db-${Math.random()}`, address: 'db1.example.org', description: '' },
    ADMIN,
  );
  const accounts: { id: string; secret: string }[] = [];
  for (let index = 0; index < ACCOUNTS; index += 1) {
    const secret = `secret-${index}-${Math.random()}`;
    const account = await vault.createAccount(
      target.id,
      { username: `user${index}`, description: '', secret },
      ADMIN,
    );
    accounts.push({ id: account.id, secret });
  }
  return accounts;
}

/** Creates a vault whose keyring opens DEKs only with `active`, with no DEK cache. */
function vaultOver(store: Store, active: MasterKeyProvider, context: DialectContext) {
  return createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring: keyringOver(store, active, context),
    audit: createAuditLog(store, context.logger),
    logger: context.logger,
  });
}

function keyringOver(store: Store, active: MasterKeyProvider, context: DialectContext): Keyring {
  return new Keyring({
    active,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(0, 0),
    logger: context.logger,
  });
}

/** Inserts a DEK under the same key as an existing one, with wrapped bytes bound to another id. */
async function corruptCopy(store: Store, id: string): Promise<DekRecord> {
  const [first] = (await store.keys.countDeksByKey()).map((entry) => entry.ref);
  const [model] = await store.keys.listDeksUnder(first as MasterKeyRef, undefined, 1);
  const record = { ...(model as DekRecord), id };
  await store.keys.insertDek(record);
  return record;
}

/** Gives the first DEK under `ref` the wrapped bytes of the second, and returns the first's id. */
async function swapWrappedBytes(keys: Store['keys'], ref: MasterKeyRef): Promise<string> {
  const [first, second] = await keys.listDeksUnder(ref, undefined, 2);
  if (first === undefined || second === undefined) {
    throw new Error('the test needs two DEKs under the target');
  }
  const changed = await keys.rewrapDek(first.id, ref, {
    ref,
    mechanism: second.mechanism,
    wrapped: second.wrapped,
  });
  expect(changed).toBe(true);
  return first.id;
}

async function allDeks(store: Store): Promise<DekRecord[]> {
  const refs: MasterKeyRef[] = (await store.keys.countDeksByKey()).map((entry) => entry.ref);
  const records: DekRecord[] = [];
  for (const ref of refs) {
    records.push(...(await store.keys.listDeksUnder(ref, undefined, 10_000)));
  }
  return records.sort((left, right) => left.id.localeCompare(right.id));
}
