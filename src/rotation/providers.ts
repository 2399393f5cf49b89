import type { Logger } from 'pino';

import type { HsmConfig, StrongroomConfig } from '../config/load.js';
import { StrongroomError } from '../errors.js';
import { buildProvider } from '../keys/open-keyring.js';
import type { MasterKeyProvider, ProviderKind } from '../keys/types.js';

/** The open source and target providers of a migration, and how to close both. */
export interface MigrationProviders {
  source: MasterKeyProvider;
  target: MasterKeyProvider;
  close(): Promise<void>;
}

/**
 * Opens the providers of `dek migrate --to <kind>` from the configuration: the target is the
 * provider named by `to`, the source the other one. Both need their settings in
 * security.properties, whichever kron.crypto.keyProvider names. Throws SR_CONFIG_KEY_MISSING
 * without HSM settings.
 */
export async function openMigrationProviders(
  config: StrongroomConfig,
  to: ProviderKind,
  logger: Logger,
): Promise<MigrationProviders> {
  if (config.hsm === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${config.layout.securityProperties}: a migration between the file key and the HSM needs hsm.provider.configPath and hsm.keystore.alias. Set them, check them with 'strongroom hsm verify', and run the migration again.`,
    );
  }

  const from: ProviderKind = to === 'hsm' ? 'file' : 'hsm';
  const opened: MasterKeyProvider[] = [];
  try {
    const source = await buildProvider(from, config, logger, 'migration');
    opened.push(source);
    await source.open();
    const target = await buildProvider(to, config, logger, 'migration');
    opened.push(target);
    await target.open();
    return {
      source,
      target,
      close: () => closeAll(opened),
    };
  } catch (error) {
    await closeAll(opened);
    throw error;
  }
}

async function closeAll(providers: MasterKeyProvider[]): Promise<void> {
  for (const provider of providers) {
    await provider.close();
  }
}

/** A key of `dek renew`: a file key at a path, or an HSM key by its label. */
export type RenewTarget = { kind: 'file'; keyFile: string } | { kind: 'hsm'; keyLabel: string };

/** Returns the settings of `config` with `key` as its file key or its HSM key label. */
function configWithKey(config: StrongroomConfig, key: RenewTarget): StrongroomConfig {
  return key.kind === 'file'
    ? { ...config, keyFile: key.keyFile }
    : { ...config, hsm: { ...(config.hsm as HsmConfig), keyLabel: key.keyLabel } };
}

/**
 * Opens the providers of `dek renew`: the source is `from`, or else the active provider that
 * kron.crypto.keyProvider names, and the target the new key on the same kind of provider or the
 * other one. An HSM key uses the configured module, slot and PIN with the given key label.
 * A running service opens the new key when it first meets a DEK under it (see createKeyFinder), as
 * long as a new key file lies beside the configured one and a new HSM key is on the same token.
 * `prepareTarget` runs once the source key is open and before the target opens, so that a new key
 * file is created only when the source works.
 */
export async function openRenewProviders(
  config: StrongroomConfig,
  target: RenewTarget,
  logger: Logger,
  prepareTarget: () => Promise<void> = async () => undefined,
  from?: RenewTarget,
): Promise<MigrationProviders> {
  if ((target.kind === 'hsm' || from?.kind === 'hsm') && config.hsm === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${config.layout.securityProperties}: renewing with an HSM key needs hsm.provider.configPath. Set it, check it with 'strongroom hsm verify', and run the renewal again.`,
    );
  }

  const opened: MasterKeyProvider[] = [];
  try {
    const source =
      from === undefined
        ? await buildProvider(config.activeProvider, config, logger, 'migration')
        : await buildProvider(from.kind, configWithKey(config, from), logger, 'migration');
    opened.push(source);
    await source.open();
    await prepareTarget();
    const renewed = await buildProvider(
      target.kind,
      configWithKey(config, target),
      logger,
      'migration',
    );
    opened.push(renewed);
    await renewed.open();
    return { source, target: renewed, close: () => closeAll(opened) };
  } catch (error) {
    await closeAll(opened);
    throw error;
  }
}
