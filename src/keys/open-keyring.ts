import type { Logger } from 'pino';
import type { StrongroomConfig } from '../config/load.js';
import type { KeyRepository } from '../store/repositories.js';
import { DekCache } from './dek-cache.js';
import { createFileProvider } from './file/file-provider.js';
import { createHsmProvider } from './hsm/index.js';
import { resolveHsmPin } from './hsm-pin.js';
import { Keyring } from './keyring.js';
import { checkStoredKeys } from './startup-check.js';
import type { MasterKeyProvider, ProviderKind } from './types.js';

/**
 * Opens the configured master key providers and checks them against the database before the
 * service takes a request: the active provider must open, every stored DEK must be under a key an
 * open provider holds, and each open key must open its canary.
 */
export async function openKeyring(
  config: StrongroomConfig,
  keys: KeyRepository,
  logger: Logger,
): Promise<Keyring> {
  const active = await buildProvider(config.activeProvider, config, logger);
  await active.open();
  logger.info({ provider: active.kind, keyId: active.ref().keyId }, 'active master key opened');

  const counts = await keys.countDeksByKey();
  const canaries = await keys.listCanaries();
  const otherKind: ProviderKind = active.kind === 'file' ? 'hsm' : 'file';
  const needed = [...counts.map((entry) => entry.ref), ...canaries.map((entry) => entry.ref)].some(
    (ref) => ref.provider === otherKind,
  );
  const secondary = needed ? await openSecondary(otherKind, config, logger) : undefined;

  const keyring = new Keyring({
    active,
    secondary,
    keys,
    cache: new DekCache(config.dekCache.maxEntries, config.dekCache.maxAgeSeconds * 1000),
    logger,
  });

  try {
    for (const warning of checkStoredKeys(counts, active.ref(), secondary?.ref())) {
      logger.warn(warning);
    }
    await keyring.verifyCanaries();
  } catch (error) {
    await keyring.close();
    throw error;
  }
  return keyring;
}

/** Builds a provider without opening it. */
export async function buildProvider(
  kind: ProviderKind,
  config: StrongroomConfig,
  logger: Logger,
): Promise<MasterKeyProvider> {
  if (kind === 'file') {
    return createFileProvider({ path: config.keyFile });
  }

  const hsm = config.hsm;
  if (hsm === undefined) {
    throw new Error('HSM provider requested without HSM configuration');
  }
  return createHsmProvider({
    library: hsm.providerFile.library,
    slot: hsm.providerFile.slot,
    keyLabel: hsm.keyLabel,
    pin: await resolveHsmPin(hsm),
    poolSize: hsm.poolSize,
    logger,
  });
}

/** Opens the non-active provider; a failure is logged and leaves its DEKs to the start-up check. */
async function openSecondary(
  kind: ProviderKind,
  config: StrongroomConfig,
  logger: Logger,
): Promise<MasterKeyProvider | undefined> {
  if (kind === 'hsm' && config.hsm === undefined) {
    return undefined;
  }

  try {
    const provider = await buildProvider(kind, config, logger);
    await provider.open();
    logger.info({ provider: kind, keyId: provider.ref().keyId }, 'secondary master key opened');
    return provider;
  } catch (error) {
    logger.error(
      { err: error, provider: kind },
      'secondary master key provider could not be opened',
    );
    return undefined;
  }
}
