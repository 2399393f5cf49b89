import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';

import type { StrongroomConfig } from '../config/load.js';
import { aesKeyCheckValue } from '../crypto/key-check-value.js';
import { createFileProvider } from './file/file-provider.js';
import { fileKeyId, readKeyFile } from './file/key-file.js';
import type { KeyFinder } from './found-keys.js';
import type { MasterKeyProvider, MasterKeyRef } from './types.js';

/** File name suffix of master key files; `dek renew` names new key files `master-<time>.key`. */
const KEY_FILE_SUFFIX = '.key';

/**
 * Creates the finder that opens a master key named by a DEK row when no configured provider holds
 * it: a key file in the folder of the configured one, or an HSM key with that label on the
 * configured token. A running service thus opens the DEKs that `dek renew` moves to a new key.
 */
export function createKeyFinder(
  config: Pick<StrongroomConfig, 'keyFile' | 'hsm'>,
  logger: Logger,
  options: {
    /** Builds an HSM provider for the configured token and the given key label, not yet open. */
    buildHsm: (keyLabel: string) => Promise<MasterKeyProvider>;
    instrument: (provider: MasterKeyProvider) => MasterKeyProvider;
  },
): KeyFinder {
  const { buildHsm, instrument } = options;
  return async (ref) => {
    const provider =
      ref.provider === 'file'
        ? await findKeyFile(config.keyFile, ref, logger)
        : config.hsm === undefined
          ? undefined
          : await findHsmKey(await buildHsm(ref.keyId), ref, logger);
    return provider === undefined ? undefined : instrument(provider);
  };
}

/** Opens the key file beside `configured` whose key has the id and check value of `ref`. */
async function findKeyFile(
  configured: string,
  ref: MasterKeyRef,
  logger: Logger,
): Promise<MasterKeyProvider | undefined> {
  const folder = dirname(configured);
  const names = await readdir(folder);
  const candidates = names
    .filter((name) => name.endsWith(KEY_FILE_SUFFIX))
    .map((name) => join(folder, name))
    .filter((path) => path !== configured);

  for (const path of candidates) {
    if (await containsKey(path, ref, logger)) {
      const provider = createFileProvider({ path });
      await provider.open();
      return provider;
    }
  }
  return undefined;
}

/** Tells whether the key file at `path` contains the key of `ref`. An unusable file is logged and skipped. */
async function containsKey(path: string, ref: MasterKeyRef, logger: Logger): Promise<boolean> {
  let key: Buffer | undefined;
  try {
    key = await readKeyFile(path);
    return fileKeyId(key) === ref.keyId && aesKeyCheckValue(key) === ref.kcv;
  } catch (error) {
    logger.warn({ err: error, path }, 'skipped a master key file that could not be read');
    return false;
  } finally {
    key?.fill(0);
  }
}

/** Opens `provider`, an HSM key labelled `ref.keyId`, and keeps it if its check value matches. */
async function findHsmKey(
  provider: MasterKeyProvider,
  ref: MasterKeyRef,
  logger: Logger,
): Promise<MasterKeyProvider | undefined> {
  try {
    await provider.open();
  } catch (error) {
    await provider.close().catch(() => undefined);
    throw error;
  }
  if (provider.ref().kcv !== ref.kcv) {
    logger.warn(
      { keyLabel: ref.keyId, expectedKcv: ref.kcv, foundKcv: provider.ref().kcv },
      'the HSM key with the label a DEK names has another check value; it was not used',
    );
    await provider.close();
    return undefined;
  }
  return provider;
}
