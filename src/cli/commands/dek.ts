import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import type { Command } from 'commander';

import { resolveHome } from '../../config/home.js';
import { loadConfig, type StrongroomConfig } from '../../config/load.js';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import { createKeyFile } from '../../keys/file/key-file.js';
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

interface RenewFlags extends RunFlags {
  hsmKeyLabel?: string;
  keyFile?: string;
  fromKeyFile?: string;
  fromHsmKeyLabel?: string;
}

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
        `Key file ${keyFile} does not exist, and a dry run creates none. Pass --key-file with an existing key file, or run without --dry-run.`,
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
    throw renewLabelError(error, flags.hsmKeyLabel);
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

/**
 * Returns the key that --from-key-file or --from-hsm-key-label names, with its audit checkpoint
 * key, or undefined when the renewal moves the DEKs of the key in use.
 */
function renewalSource(
  config: StrongroomConfig,
  flags: RenewFlags,
): { key: RenewTarget; checkpointKey: CheckpointKeySource } | undefined {
  if (flags.fromKeyFile !== undefined) {
    const keyFile = resolve(flags.fromKeyFile);
    return { key: { kind: 'file', keyFile }, checkpointKey: { kind: 'file', keyFile } };
  }
  if (flags.fromHsmKeyLabel !== undefined) {
    return {
      key: { kind: 'hsm', keyLabel: flags.fromHsmKeyLabel },
      checkpointKey: { kind: 'hsm', keyLabel: renewedAuditKeyLabel(config, flags.fromHsmKeyLabel) },
    };
  }
  return undefined;
}

/** A key file that a renewal creates once the source key has opened. */
interface NewKeyFile {
  create(): Promise<void>;
  /** Removes the file again if this command created it, for a run that never used the key. */
  discard(): Promise<void>;
}

function createNewKeyFile(path: string): NewKeyFile {
  let created = false;
  return {
    create: async () => {
      await createKeyFile(path);
      created = true;
      process.stderr.write(
        `Created the new master key file ${path}. Back it up; pass --key-file ${path} to resume an interrupted renewal.\n`,
      );
    },
    discard: async () => {
      if (!created) {
        return;
      }
      created = false;
      await rm(path, { force: true });
      process.stderr.write(
        `Removed the new master key file ${path}, because no DEK was wrapped under it.\n`,
      );
    },
  };
}

/**
 * Returns the path of a new key file beside the configured one, named by the current time. Throws
 * SR_KEYFILE_INVALID when strongroom.keyFile names something other than a file, such as a
 * directory.
 */
export async function defaultNewKeyFile(configured: string): Promise<string> {
  const info = await stat(configured).catch(() => undefined);
  if (info !== undefined && !info.isFile()) {
    throw new StrongroomError(
      'SR_KEYFILE_INVALID',
      `strongroom.keyFile ${configured} is not a regular file, and dek renew puts the new key file beside it. Set strongroom.keyFile to the path of the key file itself, or pass --key-file.`,
      { details: { path: configured } },
    );
  }
  return join(dirname(configured), `master-${fileStamp(new Date())}.key`);
}

/**
 * Names --hsm-key-label in the error of a new HSM key that was not found, whose message would
 * otherwise point at hsm.keystore.alias. Other errors are returned as they are.
 */
function renewLabelError(error: unknown, label: string | undefined): unknown {
  if (
    label === undefined ||
    !isStrongroomError(error) ||
    !['SR_HSM_KEY_NOT_FOUND', 'SR_HSM_KEY_ALIAS_BLANK'].includes(error.code) ||
    error.details['keyLabel'] !== label
  ) {
    return error;
  }
  const blank =
    error.code === 'SR_HSM_KEY_ALIAS_BLANK' ? ', and the label starts or ends with a blank' : '';
  return new StrongroomError(
    error.code,
    `--hsm-key-label '${label}': no secret key has this label on the token${blank}. Pass the label that 'strongroom hsm verify' lists, or generate the key with 'strongroom hsm keygen --label ${label.trim()}'.`,
    { details: error.details },
  );
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

/** Formats a time as YYYYMMDD-HHMMSS in UTC, for the name of a new key file. */
function fileStamp(time: Date): string {
  return time.toISOString().replace(/[-:]/g, '').replace('T', '-').replace(/\..*$/, '');
}
