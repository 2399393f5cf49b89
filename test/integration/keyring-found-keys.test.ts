import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, expect, it } from 'vitest';

import { StrongroomError } from '../../src/errors.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import type { KeyFinder } from '../../src/keys/found-keys.js';
import { createKeyFinder } from '../../src/keys/key-finder.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { DekRecord, Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import { createMemoryLogger } from '../support/softhsm.js';

describeEachDialect('keys found beside the configured key file', (context) => {
  let store: Store;
  let keyDir: string;
  let activePath: string;
  let memory: ReturnType<typeof createMemoryLogger>;
  let keyring: Keyring;
  const opened: Keyring[] = [];

  beforeEach(async () => {
    store = await context.openStore();
    keyDir = await mkdtemp(path.join(tmpdir(), 'strongroom-found-keys-'));
    activePath = path.join(keyDir, 'master.key');
    await createKeyFile(activePath);
    memory = createMemoryLogger('info');
    keyring = await keyringOver(activePath, {
      findKey: createKeyFinder({ keyFile: activePath, hsm: undefined }, memory.logger, {
        buildHsm: () => Promise.reject(new Error('no HSM in this test')),
        instrument: (provider) => provider,
      }),
    });
  });

  afterEach(async () => {
    for (const ring of opened.splice(0)) {
      await ring.close();
    }
    await store.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  async function keyringOver(
    keyPath: string,
    options: { findKey?: KeyFinder; canary?: boolean } = {},
  ): Promise<Keyring> {
    const provider = createFileProvider({ path: keyPath });
    await provider.open();
    const ring = new Keyring({
      active: provider,
      secondary: undefined,
      keys: store.keys,
      cache: new DekCache(0, 0),
      logger: memory.logger,
      ...(options.findKey === undefined ? {} : { findKey: options.findKey }),
    });
    if (options.canary !== false) {
      await ring.verifyCanaries();
    }
    opened.push(ring);
    return ring;
  }

  /** Makes a DEK under a new key file `name` in the key folder. */
  async function dekUnderNewKey(
    name: string,
    options: { canary?: boolean } = {},
  ): Promise<{ record: DekRecord; dek: Buffer }> {
    const keyPath = path.join(keyDir, name);
    await createKeyFile(keyPath);
    const ring = await keyringOver(keyPath, options);
    return ring.newDek();
  }

  async function openError(record: DekRecord): Promise<StrongroomError> {
    const error: unknown = await keyring.openDek(record).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(StrongroomError);
    return error as StrongroomError;
  }

  it('opens a DEK under a renewed key file', async () => {
    const { record, dek } = await dekUnderNewKey('master-renewed.key');

    expect((await keyring.openDek(record)).equals(dek)).toBe(true);
    expect(keyring.statuses()).toHaveLength(2);
    expect(memory.output()).toContain('opened the master key named by a DEK');
  });

  it('rejects a found key without a canary', async () => {
    const { record } = await dekUnderNewKey('master-unproven.key', { canary: false });

    const error = await openError(record);

    expect(error.code).toBe('SR_KEY_PROVIDER_UNAVAILABLE');
    expect(keyring.statuses()).toHaveLength(1);
  });

  it('skips a key file others can read', async () => {
    const { record } = await dekUnderNewKey('master-open.key');
    await chmod(path.join(keyDir, 'master-open.key'), 0o644);

    const error = await openError(record);

    expect(error.code).toBe('SR_KEY_PROVIDER_UNAVAILABLE');
    expect(error.message).toContain(record.ref.keyId);
    expect(memory.output()).toContain('master-open.key');
    expect(memory.output()).toContain('skipped a master key file that could not be read');
  });

  it('rejects a missing key', async () => {
    const { record } = await dekUnderNewKey('master-gone.key');
    await rm(path.join(keyDir, 'master-gone.key'));

    const first = await openError(record);
    const second = await openError(record);

    expect(first.code).toBe('SR_KEY_PROVIDER_UNAVAILABLE');
    expect(first.message).toContain('Put the key file beside the configured one');
    expect(second.code).toBe('SR_KEY_PROVIDER_UNAVAILABLE');
    expect(memory.output().match(/was not found/g)).toHaveLength(1);
  });
});
