import type { Logger } from 'pino';

import type { StrongroomConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import { openFileCheckpointKey } from '../../keys/file/checkpoint-key.js';
import { openHsmCheckpointKey } from '../../keys/hsm/checkpoint-key.js';
import { FailoverHsmProvider } from '../../keys/hsm/failover/failover-provider.js';
import { HsmProvider } from '../../keys/hsm/provider.js';
import type { Keyring } from '../../keys/keyring.js';
import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { ProviderKind } from '../../keys/types.js';
import type { AuditRepository } from '../../store/repositories.js';

/**
 * Opens the checkpoint key of a provider kind: the HSM key labelled strongroom.audit.keyLabel on
 * the token of the keyring's open HSM provider, or the key derived from the file master key.
 * Throws SR_AUDIT_KEY_NOT_FOUND or SR_AUDIT_KEY_INVALID when the HSM key is missing or unusable.
 */
export async function openCheckpointKey(
  kind: ProviderKind,
  config: StrongroomConfig,
  keyring: Keyring,
): Promise<CheckpointMacKey> {
  if (kind === 'file') {
    return openFileCheckpointKey(config.keyFile);
  }

  const provider = keyring.providerOf('hsm');
  const onToken = provider instanceof HsmProvider || provider instanceof FailoverHsmProvider;
  if (config.hsm === undefined || !onToken) {
    throw new StrongroomError(
      'SR_KEY_PROVIDER_UNAVAILABLE',
      'the audit checkpoint key is on the HSM, but no HSM provider is open. Configure hsm.provider.configPath and check it with strongroom hsm verify.',
    );
  }
  return openHsmCheckpointKey(provider, config.hsm.auditKeyLabel);
}

/**
 * Opens the checkpoint key of the active provider (required) and of the other open provider
 * (optional, for checkpoints written before the active provider changed). A failure of the
 * optional one is logged at warn and leaves it out.
 */
export async function openCheckpointKeys(
  config: StrongroomConfig,
  keyring: Keyring,
  logger: Logger,
): Promise<CheckpointMacKey[]> {
  const active = await openCheckpointKey(keyring.activeKind, config, keyring);
  const otherKind: ProviderKind = keyring.activeKind === 'file' ? 'hsm' : 'file';
  if (keyring.providerOf(otherKind) === undefined) {
    return [active];
  }

  try {
    return [active, await openCheckpointKey(otherKind, config, keyring)];
  } catch (error) {
    logger.warn(
      { err: error, provider: otherKind },
      'the audit checkpoint key of the secondary provider could not be opened; checkpoints it made cannot be checked',
    );
    return [active];
  }
}

/**
 * Opens the HSM checkpoint keys that checkpoint and rollover rows name and that `known` lacks, on
 * the token of `provider`, such as the audit key of an HSM master key label that was renewed. A
 * label that no usable key has on the token is logged at info and left out, and its checkpoints
 * are then checked as a retired key's.
 */
export async function openRetiredHsmCheckpointKeys(
  repository: Pick<AuditRepository, 'listCheckpointKeyIds'>,
  provider: HsmProvider,
  known: readonly CheckpointMacKey[],
  logger: Logger,
): Promise<CheckpointMacKey[]> {
  const labels = (await repository.listCheckpointKeyIds())
    .filter((entry) => entry.provider === 'hsm')
    .map((entry) => entry.keyId)
    .filter((label) => !known.some((key) => key.provider === 'hsm' && key.keyId === label));
  const opened: CheckpointMacKey[] = [];
  for (const label of new Set(labels)) {
    try {
      opened.push(await openHsmCheckpointKey(provider, label));
    } catch (error) {
      logger.info(
        { err: error, keyLabel: label },
        'a retired audit checkpoint key is not usable on the token; its checkpoints need a key rollover',
      );
    }
  }
  return opened;
}

/**
 * Opens the checkpoint keys of the HSM labels that the rows name, on the keyring's HSM provider
 * when it has one, for `audit verify` and GET /audit/chain.
 */
export async function openRetiredKeysOfKeyring(
  repository: Pick<AuditRepository, 'listCheckpointKeyIds'>,
  keyring: Keyring,
  known: readonly CheckpointMacKey[],
  logger: Logger,
): Promise<CheckpointMacKey[]> {
  const provider = keyring.providerOf('hsm');
  if (!(provider instanceof HsmProvider)) {
    return [];
  }
  return openRetiredHsmCheckpointKeys(repository, provider, known, logger);
}
