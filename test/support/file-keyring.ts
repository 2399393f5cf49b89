import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { Logger } from 'pino';

import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { KeyRepository } from '../../src/store/repositories.js';

/** A keyring over a new file master key in a temporary folder, and the way to remove both. */
export async function openFileKeyring(
  keys: KeyRepository,
  logger: Logger,
): Promise<{ keyring: Keyring; close(): Promise<void> }> {
  const keyDir = await mkdtemp(path.join(tmpdir(), 'strongroom-keyring-'));
  const keyPath = path.join(keyDir, 'master.key');
  await createKeyFile(keyPath);
  const provider = createFileProvider({ path: keyPath });
  await provider.open();
  const keyring = new Keyring({
    active: provider,
    secondary: undefined,
    keys,
    cache: new DekCache(100, 60_000),
    logger,
  });
  await keyring.verifyCanaries();

  return {
    keyring,
    close: async () => {
      await keyring.close();
      await rm(keyDir, { recursive: true, force: true });
    },
  };
}
