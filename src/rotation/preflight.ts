import type { Logger } from 'pino';

import { dekAssociatedData } from '../crypto/associated-data.js';
import { isStrongroomError, StrongroomError } from '../errors.js';
import { DekCache } from '../keys/dek-cache.js';
import { describeKey, Keyring } from '../keys/keyring.js';
import type { MasterKeyProvider } from '../keys/types.js';
import type { KeyRepository } from '../store/repositories.js';

/** DEKs under the source key that the preflight opens before any write. */
const SAMPLE_SIZE = 16;

/**
 * Proves, before anything is written, that the source key is the one that wraps the data: it must
 * open its canary and the first DEKs under it. Throws SR_DEK_MIGRATION_SOURCE_INVALID otherwise,
 * so a wrongly configured source key changes nothing.
 */
export async function proveSourceKey(
  source: MasterKeyProvider,
  keys: KeyRepository,
  logger: Logger,
): Promise<void> {
  const ref = source.ref();
  const keyring = keyringOf(source, keys, logger);
  try {
    await keyring.probeActive();
  } catch (error) {
    if (isStrongroomError(error, 'SR_KEY_CANARY_MISMATCH')) {
      throw new StrongroomError(
        'SR_DEK_MIGRATION_SOURCE_INVALID',
        `The source key, ${describeKey(ref)}, does not open its canary, so it is not the key that wraps the stored DEKs. Configure the key that wraps them (see 'strongroom dek status') and run the migration again.`,
        { cause: error, details: { provider: ref.provider, keyId: ref.keyId } },
      );
    }
    throw error;
  }

  const sample = await keys.listDeksUnder(ref, undefined, SAMPLE_SIZE);
  for (const record of sample) {
    let dek: Buffer | undefined;
    try {
      dek = await source.unwrap(record, dekAssociatedData(record.id));
    } catch (error) {
      logger.error({ err: error, dekId: record.id }, 'source key failed to open a sample DEK');
      throw new StrongroomError(
        'SR_DEK_MIGRATION_SOURCE_INVALID',
        `The source key, ${describeKey(ref)}, cannot open DEK ${record.id}, which names it. Nothing was changed. Check the DEK row and the key before running the migration again.`,
        { cause: error, details: { dekId: record.id } },
      );
    } finally {
      dek?.fill(0);
    }
  }
}

/**
 * Writes the canary of the target key when it has none, or proves that the key opens its existing
 * canary. On a dry run nothing is written: an existing canary is checked and a missing one skipped.
 */
export async function prepareTargetKey(
  target: MasterKeyProvider,
  keys: KeyRepository,
  logger: Logger,
  dryRun: boolean,
): Promise<void> {
  const keyring = keyringOf(target, keys, logger);
  if (!dryRun) {
    await keyring.verifyCanaries();
    return;
  }
  if ((await keys.findCanary(target.ref())) !== undefined) {
    await keyring.probeActive();
  }
}

/** Creates a keyring over one provider for its canary checks. It caches no DEK. */
function keyringOf(provider: MasterKeyProvider, keys: KeyRepository, logger: Logger): Keyring {
  return new Keyring({
    active: provider,
    secondary: undefined,
    keys,
    cache: new DekCache(0, 0),
    logger,
  });
}
