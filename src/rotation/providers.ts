import type { Logger } from 'pino';

import type { StrongroomConfig } from '../config/load.js';
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
    const source = await buildProvider(from, config, logger);
    opened.push(source);
    await source.open();
    const target = await buildProvider(to, config, logger);
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
