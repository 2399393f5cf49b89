import type { Logger } from 'pino';

import { confirm } from '@inquirer/prompts';

import { createAuditLog } from '../../audit/index.js';
import type { StrongroomConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import { describeKey } from '../../keys/keyring.js';
import {
  incompleteRunError,
  runDekMigration,
  type MigrationProviders,
} from '../../rotation/index.js';
import { sameKey } from '../../keys/key-ref.js';
import type { MasterKeyRef } from '../../keys/types.js';
import { openStore, type DekCount, type Store } from '../../store/index.js';
import { cliActor } from '../cli-audit.js';
import { createProgress } from './dek-progress.js';
import { formatCounts, totalDeks, writeRunResult } from './dek-report.js';
import { runRolloverStep, type CheckpointKeySource, type RolloverStep } from './dek-rollover.js';
import { countsUnderOtherKeys, keepSettings, offerSettings } from './dek-settings.js';

/** The flags of `dek migrate` and `dek renew` that a run reads. */
export interface RunFlags {
  home?: string;
  dryRun?: boolean;
  yes?: boolean;
  setProvider?: boolean;
  batchSize: string;
  json?: boolean;
}

/**
 * Runs a migration or renewal between open providers: warning and preflight, confirmation,
 * progress, summary, the audit key rollover from the source's checkpoint key to the target's,
 * and the offer to write `settings` into security.properties. Closes the providers.
 */
export async function executeRun(
  config: StrongroomConfig,
  logger: Logger,
  flags: RunFlags,
  run: {
    providers: MigrationProviders;
    command: 'migrate' | 'renew';
    batchSize: number;
    settings: Record<string, string>;
    checkpointKeys: { source: CheckpointKeySource; target: CheckpointKeySource };
    /** Removes a target key that the command created, when the run ends before it used the key. */
    discardTarget?: () => Promise<void>;
  },
): Promise<void> {
  const { providers } = run;
  const dryRun = flags.dryRun === true;
  const controller = new AbortController();
  const interrupt = (): void => {
    process.stderr.write(
      '\nStopping after the pages in flight are written. Run the command again to resume.\n',
    );
    controller.abort();
  };
  let store: Store | undefined;
  let targetUsed = false;

  try {
    store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
    const audit = createAuditLog(store, logger);
    const source = providers.source.ref();
    const target = providers.target.ref();
    const counts = await store.keys.countDeksByKey();
    if (run.command === 'renew') {
      checkRenewal(counts, { source, target });
    }
    process.stderr.write(
      [
        'WARNING: this re-wraps every DEK of the vault under another master key. Back up the database first.',
        'Keep the source key until the run has finished and the service runs on the target key.',
        `Source: ${describeKey(source)}`,
        `Target: ${describeKey(target)}`,
        `DEKs per master key:\n${formatCounts(counts, { source, target })}`,
      ].join('\n'),
    );

    if (!dryRun && flags.yes !== true) {
      const proceed = await confirm({ message: 'Re-wrap the DEKs now?', default: false });
      if (!proceed) {
        process.stderr.write('Cancelled. Nothing was changed.\n');
        return;
      }
    }
    // From here on the run may write under the target key.
    targetUsed = !dryRun;

    const progress = createProgress(process.stderr);
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', interrupt);
    const summary = await runDekMigration({
      store,
      source: providers.source,
      target: providers.target,
      command: run.command,
      audit,
      actor: cliActor(),
      logger,
      dryRun,
      batchSize: run.batchSize,
      signal: controller.signal,
      onProgress: (state) => progress.update(state),
    }).finally(() => progress.finish());

    // The rollover needs both checkpoint keys, so it runs now, before the settings move the
    // service to the target key and the administrator may retire the source key.
    const rollover: RolloverStep =
      summary.outcome === 'completed' && !dryRun
        ? await runRolloverStep({
            config,
            store,
            audit,
            actor: cliActor(),
            command: run.command,
            source: { provider: providers.source, checkpointKey: run.checkpointKeys.source },
            target: { provider: providers.target, checkpointKey: run.checkpointKeys.target },
            logger,
          })
        : { result: undefined, error: undefined };

    writeRunResult(summary, rollover.result, flags.json === true);
    if (summary.outcome !== 'completed') {
      throw incompleteRunError(summary);
    }
    if (rollover.error !== undefined) {
      throw rollover.error;
    }
    if (!dryRun) {
      const others = countsUnderOtherKeys(await store.keys.countDeksByKey(), { source, target });
      if (others.length > 0) {
        keepSettings(others, run.settings, flags);
        return;
      }
      await offerSettings(config, run.settings, flags, {
        audit,
        reason: `strongroom dek ${run.command}`,
      });
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await providers.close();
    await store?.close();
    if (!targetUsed) {
      await run.discardTarget?.();
    }
  }
}

/**
 * Rejects a renewal that could move nothing: to its own source key, or from a source key that wraps
 * no DEK while other keys wrap some. Either one would only add a key and an audit key rollover that
 * no DEK needs.
 */
function checkRenewal(
  counts: DekCount[],
  keys: { source: MasterKeyRef; target: MasterKeyRef },
): void {
  const { source, target } = keys;
  if (sameKey(source, target)) {
    throw new StrongroomError(
      'SR_DEK_RENEW_SAME_KEY',
      `dek renew needs a new key, but the target is the source key, ${describeKey(target)}. Pass --hsm-key-label with the label of another key, or --key-file with another key file, or neither for a new key file.`,
    );
  }
  const others = countsUnderOtherKeys(counts, keys);
  if (others.length > 0 && !counts.some((entry) => sameKey(entry.ref, source))) {
    const total = totalDeks(others);
    throw new StrongroomError(
      'SR_DEK_RENEW_SOURCE_EMPTY',
      `No DEK is under the source key, ${describeKey(source)}, but ${total} DEKs are under other keys:\n${formatCounts(others)}` +
        `Name the key that wraps them with --from-key-file or --from-hsm-key-label, or leave both out to renew the key in use. If the configuration points at the wrong key, correct kron.crypto.keyProvider and its key setting first.`,
      { details: { dekCount: total } },
    );
  }
}
