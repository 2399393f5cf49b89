import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { beforeEach, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/index.js';
import { dekAssociatedData } from '../../src/crypto/associated-data.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { runDekMigration, type MigrationOptions } from '../../src/rotation/index.js';
import { MAX_SWEEPS } from '../../src/rotation/passes.js';
import type { KeyRepository, Store } from '../../src/store/index.js';
import { describeEachDialect, type DialectContext } from '../support/databases.js';

/** DEKs seeded before each run, with ids dek-100 to dek-129. */
const SEEDED = 30;
const BATCH_SIZE = 7;

describeEachDialect('DEK migration sweeps', (context) => {
  let store: Store;
  let source: MasterKeyProvider;
  let target: MasterKeyProvider;
  /** The plaintext of every DEK created by the test, by id. */
  let plaintexts: Map<string, Buffer>;

  beforeEach(async () => {
    store = await context.openStore();
    source = await openFileKey(context);
    target = await openFileKey(context);
    plaintexts = new Map();
    const keyring = new Keyring({
      active: source,
      secondary: undefined,
      keys: store.keys,
      cache: new DekCache(0, 0),
      logger: context.logger,
    });
    await keyring.verifyCanaries();
    for (let index = 0; index < SEEDED; index += 1) {
      await createDek(`dek-${100 + index}`);
    }
  });

  /** Inserts a DEK wrapped under the source key, as a running service would. */
  async function createDek(id: string): Promise<void> {
    const dek = randomBytes(32);
    plaintexts.set(id, Buffer.from(dek));
    const wrapped = await source.wrap(dek, dekAssociatedData(id));
    await store.keys.insertDek({ id, ref: source.ref(), ...wrapped });
  }

  function options(keys: KeyRepository): MigrationOptions {
    return {
      store: withKeys(store, keys),
      source,
      target,
      command: 'renew',
      audit: createAuditLog(store, context.logger),
      actor: 'os:tester',
      logger: context.logger,
      dryRun: false,
      batchSize: BATCH_SIZE,
    };
  }

  async function expectAllOpenUnderTarget(): Promise<void> {
    expect(await store.keys.countDeksByKey()).toEqual([
      { ref: target.ref(), count: plaintexts.size },
    ]);
    for (const [id, plaintext] of plaintexts) {
      const record = await store.keys.findDek(id);
      expect(await target.unwrap(record!, dekAssociatedData(id))).toEqual(plaintext);
    }
  }

  it('sweep moves DEKs created below the page', async () => {
    let created = false;
    const keys = hooked(store.keys, {
      listDeksNotUnder: async (ref, after, limit) => {
        if (after !== undefined && !created) {
          created = true;
          // The first pass has passed these ids already.
          await createDek('dek-000');
          await createDek('dek-001');
          await createDek('dek-002');
        }
        return store.keys.listDeksNotUnder(ref, after, limit);
      },
    });

    const summary = await runDekMigration(options(keys));

    expect(created).toBe(true);
    expect(summary.outcome).toBe('completed');
    expect(summary.migrated).toBe(SEEDED + 3);
    expect(summary.sweeps).toBe(2);
    expect(summary.remaining).toBe(0);
    expect(summary.verified).toBe(SEEDED + 3);
    await expectAllOpenUnderTarget();
  });

  it('no sweep work without new DEKs', async () => {
    const summary = await runDekMigration(options(store.keys));

    expect(summary.migrated).toBe(SEEDED);
    expect(summary.sweeps).toBe(1);
    expect(summary.remaining).toBe(0);
    await expectAllOpenUnderTarget();
  });

  it('sweeps stop after the bound', async () => {
    let next = 0;
    const createBelow = async (): Promise<void> => {
      next += 1;
      await createDek(`dek-0${String(100 - next).padStart(2, '0')}`);
    };
    // Each pass ends by reading an empty page, and a new DEK appears under the source right then.
    const keys = hooked(store.keys, {
      listDeksNotUnder: async (ref, after, limit) => {
        const page = await store.keys.listDeksNotUnder(ref, after, limit);
        if (page.length === 0) {
          await createBelow();
        }
        return page;
      },
      listDeksUnder: async (ref, after, limit) => {
        const page = await store.keys.listDeksUnder(ref, after, limit);
        if (page.length === 0 && ref.kcv === source.ref().kcv && after !== undefined) {
          await createBelow();
        }
        return page;
      },
    });

    const summary = await runDekMigration(options(keys));

    expect(summary.outcome).toBe('completed');
    expect(summary.sweeps).toBe(MAX_SWEEPS);
    expect(summary.migrated).toBe(SEEDED + MAX_SWEEPS);
    expect(summary.remaining).toBe(1);
    expect(await store.keys.countDeksByKey()).toContainEqual({ ref: source.ref(), count: 1 });
  });

  it('failed DEK is not retried by sweeps', async () => {
    // Past the preflight's sample of the first 16 DEKs, wrapped bytes bound to another id.
    const model = await store.keys.findDek('dek-100');
    await store.keys.insertDek({ ...model!, id: 'dek-150' });

    const summary = await runDekMigration(options(store.keys));

    expect(summary.outcome).toBe('failed');
    expect(summary.failed).toBe(1);
    expect(summary.migrated).toBe(SEEDED);
    expect(summary.sweeps).toBe(1);
    expect(summary.remaining).toBe(1);
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

/** Wraps a key repository so that `hooks` run in place of some of its methods. */
function hooked(keys: KeyRepository, hooks: Partial<KeyRepository>): KeyRepository {
  return new Proxy(keys, {
    get(repository, name: keyof KeyRepository) {
      const hook = hooks[name];
      if (hook !== undefined) {
        return hook;
      }
      const method = repository[name];
      return typeof method === 'function' ? method.bind(repository) : method;
    },
  });
}

/** Returns the store with another key repository, so that rows can appear between a run's reads. */
function withKeys(store: Store, keys: KeyRepository): Store {
  return new Proxy(store, {
    get(target, name: keyof Store) {
      if (name === 'keys') {
        return keys;
      }
      const member = target[name];
      return typeof member === 'function' ? member.bind(target) : member;
    },
  });
}
