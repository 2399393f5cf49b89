import type { Logger } from 'pino';

import { openRetiredHsmCheckpointKeys } from '../../audit/chain/keys.js';
import { writeKeyRollover, type RolloverResult } from '../../audit/chain/rollover.js';
import type { AuditLog } from '../../audit/types.js';
import type { StrongroomConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import { openFileCheckpointKey } from '../../keys/file/checkpoint-key.js';
import { openHsmCheckpointKey } from '../../keys/hsm/checkpoint-key.js';
import { HsmProvider } from '../../keys/hsm/provider.js';
import { describeKey } from '../../keys/keyring.js';
import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { MasterKeyProvider } from '../../keys/types.js';
import type { Store } from '../../store/index.js';

/**
 * The source of the checkpoint key of one side of a run: HKDF over a key file, or an HSM key
 * by its label, on the token of the side's provider.
 */
export type CheckpointKeySource =
  { kind: 'file'; keyFile: string } | { kind: 'hsm'; keyLabel: string };

/** One side of a run: its open master key provider and its checkpoint key. */
export interface RolloverSide {
  provider: MasterKeyProvider;
  checkpointKey: CheckpointKeySource;
}

/**
 * Returns the checkpoint key source of a provider kind as the configuration names it: the
 * configured key file, or strongroom.audit.keyLabel (by default the master key label and `-audit`).
 */
export function configuredCheckpointKey(
  config: StrongroomConfig,
  kind: 'file' | 'hsm',
): CheckpointKeySource {
  if (kind === 'file' || config.hsm === undefined) {
    return { kind: 'file', keyFile: config.keyFile };
  }
  return { kind: 'hsm', keyLabel: config.hsm.auditKeyLabel };
}

/**
 * Returns the audit key label that goes with a renewed HSM master key label: the same explicit
 * strongroom.audit.keyLabel when one is set, or the default, the new label and `-audit`.
 */
export function renewedAuditKeyLabel(config: StrongroomConfig, newKeyLabel: string): string {
  const hsm = config.hsm;
  if (hsm !== undefined && hsm.auditKeyLabel !== `${hsm.keyLabel.trim()}-audit`) {
    return hsm.auditKeyLabel;
  }
  return `${newKeyLabel.trim()}-audit`;
}

/**
 * Writes the audit key rollover from the source's checkpoint key to the target's after a complete
 * run, and returns undefined when both are the same key. Throws SR_AUDIT_ROLLOVER_FAILED, whose
 * message names the cause and the retry: running the same command again writes the rollover.
 */
export async function rollOverCheckpointKey(run: {
  config: StrongroomConfig;
  store: Store;
  audit: AuditLog;
  actor: string;
  command: 'migrate' | 'renew';
  source: RolloverSide;
  target: RolloverSide;
  logger: Logger;
}): Promise<RolloverResult | undefined> {
  const opened: CheckpointMacKey[] = [];
  try {
    const oldKey = await openSideKey(run.source);
    opened.push(oldKey);
    const newKey = await openSideKey(run.target);
    opened.push(newKey);
    if (oldKey.provider === newKey.provider && oldKey.keyId === newKey.keyId) {
      return undefined;
    }
    opened.push(...(await openOtherKeys(run, opened)));
    return await writeKeyRollover({
      repository: run.store.audit,
      audit: run.audit,
      actor: run.actor,
      reason: `strongroom dek ${run.command}`,
      oldKey,
      newKey,
      otherKeys: opened.slice(2),
    });
  } catch (error) {
    run.logger.error({ err: error }, 'audit key rollover could not be written');
    const cause = (error instanceof Error ? error.message : String(error)).replace(/\.?$/, '.');
    throw new StrongroomError(
      'SR_AUDIT_ROLLOVER_FAILED',
      `The DEKs are under ${describeKey(run.target.provider.ref())}, but the audit key rollover could not be written: ${cause} security.properties was not changed. Fix the cause and run the same command again: it finds no DEK left to move and writes the rollover.`,
      { cause: error },
    );
  } finally {
    for (const key of opened) {
      await key.close();
    }
  }
}

async function openSideKey(side: RolloverSide): Promise<CheckpointMacKey> {
  const source = side.checkpointKey;
  if (source.kind === 'file') {
    return openFileCheckpointKey(source.keyFile);
  }
  if (!(side.provider instanceof HsmProvider)) {
    throw new TypeError(
      `the checkpoint key '${source.keyLabel}' is on the HSM, but the provider is not`,
    );
  }
  return openHsmCheckpointKey(side.provider, source.keyLabel);
}

/**
 * Opens the keys that can check older checkpoints: the configured file key when neither side
 * uses it, and the retired HSM keys that checkpoint rows name, on the token of an HSM side.
 */
async function openOtherKeys(
  run: {
    config: StrongroomConfig;
    store: Store;
    source: RolloverSide;
    target: RolloverSide;
    logger: Logger;
  },
  known: readonly CheckpointMacKey[],
): Promise<CheckpointMacKey[]> {
  const others: CheckpointMacKey[] = [];
  const sides = [run.source, run.target];
  const fileUsed = sides.some(
    (side) =>
      side.checkpointKey.kind === 'file' && side.checkpointKey.keyFile === run.config.keyFile,
  );
  if (!fileUsed) {
    try {
      others.push(await openFileCheckpointKey(run.config.keyFile));
    } catch (error) {
      run.logger.info(
        { err: error, keyFile: run.config.keyFile },
        'the configured key file is not available to check older checkpoints',
      );
    }
  }
  const hsm = sides.find((side) => side.provider instanceof HsmProvider)?.provider;
  if (hsm instanceof HsmProvider) {
    others.push(
      ...(await openRetiredHsmCheckpointKeys(
        run.store.audit,
        hsm,
        [...known, ...others],
        run.logger,
      )),
    );
  }
  return others;
}

/** The outcome of the rollover step: what it wrote, or the error to raise after the summary. */
export interface RolloverStep {
  result: RolloverResult | undefined;
  error: unknown;
}

/** Runs rollOverCheckpointKey and keeps its error, so that the run's summary is printed first. */
export async function runRolloverStep(
  run: Parameters<typeof rollOverCheckpointKey>[0],
): Promise<RolloverStep> {
  try {
    return { result: await rollOverCheckpointKey(run), error: undefined };
  } catch (error) {
    return { result: undefined, error };
  }
}
