import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HsmConfig, StrongroomConfig } from '../config/load.js';
import type { KeyRepository } from '../store/repositories.js';
import { DekCache } from './dek-cache.js';
import { createFileProvider } from './file/file-provider.js';
import { createHsmProvider, FailoverHsmProvider } from './hsm/index.js';
import { resolveHsmPin } from './hsm-pin.js';
import { createKeyFinder } from './key-finder.js';
import { Keyring } from './keyring.js';
import { checkStoredKeys } from './startup-check.js';
import type { MasterKeyProvider, ProviderKind } from './types.js';

/**
 * Opens the configured master key providers and checks them against the database before the
 * service takes a request. The active provider must open, every stored DEK must be under a key
 * that an open provider holds, and each open key must open its canary.
 */
export async function openKeyring(
  config: StrongroomConfig,
  keys: KeyRepository,
  logger: Logger,
  instrument: (provider: MasterKeyProvider) => MasterKeyProvider = (provider) => provider,
): Promise<Keyring> {
  const active = instrument(await buildProvider(config.activeProvider, config, logger));
  await active.open();
  logger.info({ provider: active.kind, keyId: active.ref().keyId }, 'active master key opened');

  const counts = await keys.countDeksByKey();
  const canaries = await keys.listCanaries();
  const otherKind: ProviderKind = active.kind === 'file' ? 'hsm' : 'file';
  const needed = [...counts.map((entry) => entry.ref), ...canaries.map((entry) => entry.ref)].some(
    (ref) => ref.provider === otherKind,
  );
  // The other provider is opened whenever it is configured, not only when DEKs need it now: a
  // migration may move DEKs under its key while this service runs.
  const secondary = await openSecondary(otherKind, config, logger, needed, instrument);

  const keyring = new Keyring({
    active,
    secondary,
    keys,
    cache: new DekCache(config.dekCache.maxEntries, config.dekCache.maxAgeSeconds * 1000),
    logger,
    findKey: createKeyFinder(config, logger, {
      buildHsm: (keyLabel) =>
        buildProvider(
          'hsm',
          { ...config, hsm: { ...(config.hsm as HsmConfig), keyLabel } },
          logger,
        ),
      instrument,
    }),
  });

  try {
    const held = [active.ref(), ...(secondary === undefined ? [] : [secondary.ref()])];
    // A renewal that was under way when the service stopped left DEKs under its new key.
    for (const { ref } of counts) {
      if (await keyring.openKeyOf(ref)) {
        held.push(ref);
      }
    }
    for (const warning of checkStoredKeys(counts, active.ref(), held)) {
      logger.warn(warning);
    }
    await keyring.verifyCanaries();
  } catch (error) {
    await keyring.close();
    throw error;
  }
  return keyring;
}

/**
 * Builds a provider without opening it. For a 'migration', an HSM provider runs its batches in
 * strongroom.hsm.batchProcesses processes; the service keeps its batches on worker threads.
 */
export async function buildProvider(
  kind: ProviderKind,
  config: StrongroomConfig,
  logger: Logger,
  purpose: 'service' | 'migration' = 'service',
): Promise<MasterKeyProvider> {
  if (kind === 'file') {
    return createFileProvider({ path: config.keyFile });
  }

  const hsm = config.hsm;
  if (hsm === undefined) {
    throw new Error('HSM provider requested without HSM configuration');
  }
  const pin = await resolveHsmPin(hsm);
  const batchProcesses = purpose === 'migration' ? hsm.batchProcesses : 0;
  if (hsm.failover !== undefined) {
    return new FailoverHsmProvider({
      members: [hsm.providerFile, ...hsm.failover.standbys],
      retryPrimarySeconds: hsm.failover.retryPrimarySeconds,
      keyLabel: hsm.keyLabel,
      auditKeyLabel: hsm.auditKeyLabel,
      pin,
      poolSize: hsm.poolSize,
      batchProcesses,
      keyWrap: hsm.keyWrap,
      logger,
    });
  }
  return createHsmProvider({
    library: hsm.providerFile.library,
    slot: hsm.providerFile.slot,
    keyLabel: hsm.keyLabel,
    pin,
    poolSize: hsm.poolSize,
    batchProcesses,
    keyWrap: hsm.keyWrap,
    logger,
  });
}

/**
 * Opens the non-active provider when it is configured: the HSM when security.properties names one,
 * the file key when its file exists. A failure is logged (as an error when stored DEKs need the
 * provider) and leaves those DEKs to the start-up check.
 */
async function openSecondary(
  kind: ProviderKind,
  config: StrongroomConfig,
  logger: Logger,
  needed: boolean,
  instrument: (provider: MasterKeyProvider) => MasterKeyProvider,
): Promise<MasterKeyProvider | undefined> {
  const configured = kind === 'hsm' ? config.hsm !== undefined : existsSync(config.keyFile);
  if (!configured) {
    return undefined;
  }

  try {
    const provider = instrument(await buildProvider(kind, config, logger));
    await provider.open();
    logger.info({ provider: kind, keyId: provider.ref().keyId }, 'secondary master key opened');
    return provider;
  } catch (error) {
    const fields = { err: error, provider: kind };
    if (needed) {
      logger.error(fields, 'secondary master key provider could not be opened');
    } else {
      logger.warn(
        fields,
        'secondary master key provider could not be opened; no stored DEK needs it yet',
      );
    }
    return undefined;
  }
}
