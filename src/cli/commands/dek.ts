import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import type { Command } from 'commander';

import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import type { ProviderKind } from '../../keys/types.js';
import {
  openMigrationProviders,
  openRenewProviders,
  type MigrationProviders,
  type RenewTarget,
} from '../../rotation/index.js';
import { openStore } from '../../store/index.js';
import { createCliLogger } from '../logger.js';
import { CONFIRMATION_NEEDS_YES, runCommand, usageError } from '../output.js';
import { runDekMenu } from './dek-menu.js';
import { formatCounts, formatRuns } from './dek-report.js';
import {
  configuredCheckpointKey,
  renewedAuditKeyLabel,
  type CheckpointKeySource,
} from './dek-rollover.js';
import {
  createNewKeyFile,
  defaultNewKeyFile,
  renewalSource,
  renewFlagError,
  type NewKeyFile,
  type RenewKeyFlags,
} from './dek-renew-keys.js';
import { executeRun, type RunFlags } from './dek-run.js';

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';
const RECENT_RUNS = 5;
/** DEKs per page, the default of --batch-size. */
const DEFAULT_BATCH_SIZE = '500';

interface StatusFlags {
  home?: string;
  json?: boolean;
}

interface MigrateFlags extends RunFlags {
  to: string;
}

type RenewFlags = RunFlags & RenewKeyFlags;

export function registerDek(program: Command): void {
  const dek = program
    .command('dek')
    .description(
      'inspect and migrate the DEKs of the vault; without an action on a terminal, a menu',
    )
    .option('--home <dir>', HOME_HELP)
    .enablePositionalOptions()
    .action(async (flags: { home?: string }) => {
      await runCommand(false, () => menu(flags));
    });
  // `dek --home DIR status` passes the folder to the action too.
  const withHome = <T extends { home?: string }>(flags: T): T => ({
    ...flags,
    home: flags.home ?? (dek.opts() as { home?: string }).home,
  });

  dek
    .command('status')
    .description('print DEK counts per master key and the latest migration runs')
    .option('--home <dir>', HOME_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (flags: StatusFlags) => {
      await runCommand(flags.json === true, () => status(withHome(flags)));
    });

  dek
    .command('migrate')
    .description(
      're-wrap every DEK under the master key of another provider; exit 0 only when no DEK failed and every DEK under the target opens',
    )
    .requiredOption('--to <provider>', 'provider to move to: hsm, or file to roll back')
    .option('--home <dir>', HOME_HELP)
    .option('--dry-run', 'unwrap and wrap every DEK but write nothing')
    .option('--yes', 'do not ask for confirmation; required when standard input is not a terminal')
    .option(
      '--set-provider',
      'set kron.crypto.keyProvider to the target in security.properties after a complete run',
    )
    .option(
      '--batch-size <rows>',
      'DEKs per page: per batch call to each key provider and per write transaction',
      DEFAULT_BATCH_SIZE,
    )
    .option('--json', 'print the summary as JSON')
    .action(async (flags: MigrateFlags) => {
      await runCommand(flags.json === true, () => migrate(withHome(flags)));
    });

  dek
    .command('renew')
    .description(
      're-wrap every DEK under a new master key: a new key file, or the HSM key with --hsm-key-label',
    )
    .option('--home <dir>', HOME_HELP)
    .option('--hsm-key-label <label>', 'label of the new AES-256 key on the configured token')
    .option(
      '--key-file <path>',
      'new key file to use; created when missing. Pass the file of an interrupted renewal to resume it',
    )
    .option(
      '--from-key-file <path>',
      'move the DEKs of this key file instead of the key in use, such as those that a service created under the old key before it was switched to the new one',
    )
    .option(
      '--from-hsm-key-label <label>',
      'move the DEKs of this HSM key instead of the key in use',
    )
    .option('--dry-run', 'unwrap and wrap every DEK but write nothing')
    .option('--yes', 'do not ask for confirmation; required when standard input is not a terminal')
    .option('--set-provider', 'point security.properties at the new key after a complete run')
    .option(
      '--batch-size <rows>',
      'DEKs per page: per batch call to each key provider and per write transaction',
      DEFAULT_BATCH_SIZE,
    )
    .option('--json', 'print the summary as JSON')
    .action(async (flags: RenewFlags) => {
      await runCommand(flags.json === true, () => renew(withHome(flags)));
    });
}

/** Runs the menu on a terminal, and otherwise explains that scripts name an action. */
async function menu(flags: { home?: string }): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    usageError(
      "strongroom dek needs an action when it does not run on a terminal: status, migrate --to hsm|file, or renew. Run 'strongroom dek --help' for their flags.",
      false,
    );
    return;
  }
  const home = resolveHome(flags.home);
  await runDekMenu(home, async (action) => {
    const common = { home, batchSize: DEFAULT_BATCH_SIZE };
    if (action.kind === 'status') {
      await status({ home });
    } else if (action.kind === 'migrate') {
      await migrate({ ...common, to: action.to, dryRun: action.dryRun });
    } else {
      await renew({ ...common, ...action.target, dryRun: action.dryRun });
    }
  });
}

async function status(flags: StatusFlags): Promise<void> {
  const config = await loadConfig(resolveHome(flags.home));
  const store = await openStore(config.databaseUrl, {
    baseDir: config.layout.home,
    logger: createCliLogger(),
  });
  try {
    const counts = await store.keys.countDeksByKey();
    const runs = await store.dekMigrations.listRuns(RECENT_RUNS);
    if (flags.json === true) {
      process.stdout.write(
        `${JSON.stringify({ activeProvider: config.activeProvider, counts, runs })}\n`,
      );
      return;
    }
    process.stdout.write(`kron.crypto.keyProvider = ${config.activeProvider}\n`);
    process.stdout.write(`DEKs per master key:\n${formatCounts(counts)}`);
    process.stdout.write(`Latest migration runs:\n${formatRuns(runs)}`);
  } finally {
    await store.close();
  }
}

async function migrate(flags: MigrateFlags): Promise<void> {
  const to = parseProvider(flags.to);
  if (to === undefined) {
    usageError(`--to is '${flags.to}', expected hsm or file.`, flags.json === true);
    return;
  }
  const batchSize = checkRunFlags(flags);
  if (batchSize === undefined) {
    return;
  }

  const config = await loadConfig(resolveHome(flags.home));
  const logger = createCliLogger();
  const providers = await openMigrationProviders(config, to, logger);
  await executeRun(config, logger, flags, {
    providers,
    command: 'migrate',
    batchSize,
    settings: { 'kron.crypto.keyProvider': to },
    checkpointKeys: {
      source: configuredCheckpointKey(config, to === 'hsm' ? 'file' : 'hsm'),
      target: configuredCheckpointKey(config, to),
    },
  });
}

async function renew(flags: RenewFlags): Promise<void> {
  if (flags.hsmKeyLabel !== undefined && flags.keyFile !== undefined) {
    usageError('Pass --hsm-key-label or --key-file, not both.', flags.json === true);
    return;
  }
  if (flags.fromHsmKeyLabel !== undefined && flags.fromKeyFile !== undefined) {
    usageError('Pass --from-hsm-key-label or --from-key-file, not both.', flags.json === true);
    return;
  }
  const batchSize = checkRunFlags(flags);
  if (batchSize === undefined) {
    return;
  }

  const config = await loadConfig(resolveHome(flags.home));
  const logger = createCliLogger();
  let target: RenewTarget;
  let settings: Record<string, string>;
  let targetCheckpointKey: CheckpointKeySource;
  const from = renewalSource(config, flags);
  let newKeyFile: NewKeyFile | undefined;
  if (flags.hsmKeyLabel !== undefined) {
    target = { kind: 'hsm', keyLabel: flags.hsmKeyLabel };
    targetCheckpointKey = {
      kind: 'hsm',
      keyLabel: renewedAuditKeyLabel(config, flags.hsmKeyLabel),
    };
    settings = { 'kron.crypto.keyProvider': 'hsm', 'hsm.keystore.alias': flags.hsmKeyLabel };
  } else {
    const keyFile = resolve(flags.keyFile ?? (await defaultNewKeyFile(config.keyFile)));
    if (!existsSync(keyFile) && flags.dryRun === true) {
      usageError(
        flags.keyFile === undefined
          ? 'A dry run creates no key file, so a dry run of a renewal to a file key needs --key-file with a key file that exists. Run without --dry-run to create a new one.'
          : `Key file ${keyFile} does not exist, and a dry run creates none. Pass --key-file with an existing key file, or run without --dry-run.`,
        flags.json === true,
      );
      return;
    }
    if (!existsSync(keyFile)) {
      newKeyFile = createNewKeyFile(keyFile);
    }
    target = { kind: 'file', keyFile };
    targetCheckpointKey = { kind: 'file', keyFile };
    settings = { 'kron.crypto.keyProvider': 'file', 'strongroom.keyFile': keyFile };
  }

  let providers: MigrationProviders;
  try {
    providers = await openRenewProviders(config, target, logger, newKeyFile?.create, from?.key);
  } catch (error) {
    await newKeyFile?.discard();
    throw renewFlagError(error, flags);
  }
  await executeRun(config, logger, flags, {
    providers,
    command: 'renew',
    batchSize,
    settings,
    checkpointKeys: {
      source: from?.checkpointKey ?? configuredCheckpointKey(config, config.activeProvider),
      target: targetCheckpointKey,
    },
    ...(newKeyFile === undefined ? {} : { discardTarget: newKeyFile.discard }),
  });
}

/** Returns the batch size, or undefined after printing a usage error. */
function checkRunFlags(flags: RunFlags): number | undefined {
  const batchSize = Number(flags.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    usageError(
      `--batch-size is '${flags.batchSize}', expected an integer from 1 to 10000.`,
      flags.json === true,
    );
    return undefined;
  }
  if (flags.dryRun !== true && flags.yes !== true && !process.stdin.isTTY) {
    usageError(CONFIRMATION_NEEDS_YES, flags.json === true);
    return undefined;
  }
  return batchSize;
}

function parseProvider(value: string): ProviderKind | undefined {
  return value === 'hsm' || value === 'file' ? value : undefined;
}
