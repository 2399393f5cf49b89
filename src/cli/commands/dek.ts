import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';

import { confirm } from '@inquirer/prompts';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import pino from 'pino';

import { createAuditLog } from '../../audit/index.js';
import { resolveHome } from '../../config/home.js';
import { loadConfig, type StrongroomConfig } from '../../config/load.js';
import { setProperty, writeFileAtomic } from '../../config/properties-editor.js';
import { describeKey } from '../../keys/keyring.js';
import type { ProviderKind } from '../../keys/types.js';
import { createLogger } from '../../logging.js';
import { openMigrationProviders, runDekMigration } from '../../rotation/index.js';
import { openStore, type Store } from '../../store/index.js';
import { EXIT, printError, runCommand } from '../output.js';
import { createProgress, formatCounts, formatRuns, formatSummary } from './dek-report.js';

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';
const RECENT_RUNS = 5;

interface StatusFlags {
  home?: string;
  json?: boolean;
}

interface MigrateFlags {
  home?: string;
  to: string;
  dryRun?: boolean;
  yes?: boolean;
  setProvider?: boolean;
  batchSize: string;
  json?: boolean;
}

export function registerDek(program: Command): void {
  const dek = program.command('dek').description('inspect and migrate the DEKs of the vault');

  dek
    .command('status')
    .description('print DEK counts per master key and the latest migration runs')
    .option('--home <dir>', HOME_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (flags: StatusFlags) => {
      await runCommand(flags.json === true, () => status(flags));
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
    .option('--batch-size <rows>', 'DEK rows read per page', '200')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: MigrateFlags) => {
      await runCommand(flags.json === true, () => migrate(flags));
    });
}

async function status(flags: StatusFlags): Promise<void> {
  const config = await loadConfig(resolveHome(flags.home));
  const store = await openStore(config.databaseUrl, {
    baseDir: config.layout.home,
    logger: createLogger('warn', pino.destination(2)),
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
  const batchSize = Number(flags.batchSize);
  if (to === undefined || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    printError(
      new Error(
        to === undefined
          ? `--to is '${flags.to}'; expected hsm or file.`
          : `--batch-size is '${flags.batchSize}'; expected an integer from 1 to 10000.`,
      ),
      flags.json === true,
    );
    process.exitCode = EXIT.usage;
    return;
  }
  const dryRun = flags.dryRun === true;
  if (!dryRun && flags.yes !== true && !process.stdin.isTTY) {
    printError(
      new Error(
        'Standard input is not a terminal, so the migration cannot ask for confirmation. Pass --yes to run it.',
      ),
      flags.json === true,
    );
    process.exitCode = EXIT.usage;
    return;
  }

  const config = await loadConfig(resolveHome(flags.home));
  const logger = createLogger('warn', pino.destination(2));
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  try {
    await migrateWithStore(store, config, logger, flags, { to, dryRun, batchSize });
  } finally {
    await store.close();
  }
}

async function migrateWithStore(
  store: Store,
  config: StrongroomConfig,
  logger: Logger,
  flags: MigrateFlags,
  choice: { to: ProviderKind; dryRun: boolean; batchSize: number },
): Promise<void> {
  const providers = await openMigrationProviders(config, choice.to, logger);
  const controller = new AbortController();
  const interrupt = (): void => {
    process.stderr.write('\nStopping after the DEKs in flight. Run the command again to resume.\n');
    controller.abort();
  };

  try {
    const source = providers.source.ref();
    const target = providers.target.ref();
    const counts = await store.keys.countDeksByKey();
    process.stderr.write(
      [
        'WARNING: this re-wraps every DEK of the vault under another master key. Back up the database first.',
        'Keep the source key until the migration has finished and the service runs on the target key.',
        `Source: ${describeKey(source)}`,
        `Target: ${describeKey(target)}`,
        `DEKs per master key:\n${formatCounts(counts, { source, target })}`,
      ].join('\n'),
    );

    if (!choice.dryRun && flags.yes !== true) {
      const proceed = await confirm({ message: 'Migrate the DEKs now?', default: false });
      if (!proceed) {
        process.stderr.write('Migration cancelled. Nothing was changed.\n');
        return;
      }
    }

    const progress = createProgress(process.stderr);
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', interrupt);
    const summary = await runDekMigration({
      store,
      source: providers.source,
      target: providers.target,
      command: 'migrate',
      audit: createAuditLog(store, logger),
      actor: `os:${userInfo().username}`,
      logger,
      dryRun: choice.dryRun,
      batchSize: choice.batchSize,
      concurrency: config.hsm?.poolSize ?? 1,
      signal: controller.signal,
      onProgress: (state) => progress.update(state),
    }).finally(() => progress.finish());

    if (flags.json === true) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      process.stdout.write(formatSummary(summary));
    }
    if (summary.outcome !== 'completed') {
      process.exitCode = EXIT.failed;
      return;
    }
    if (!choice.dryRun) {
      await offerProviderSwitch(config, choice.to, flags);
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await providers.close();
  }
}

/** Sets kron.crypto.keyProvider to the target with --set-provider, or after asking on a terminal. */
async function offerProviderSwitch(
  config: StrongroomConfig,
  to: ProviderKind,
  flags: MigrateFlags,
): Promise<void> {
  if (config.activeProvider === to) {
    return;
  }
  const path = config.layout.securityProperties;
  const set =
    flags.setProvider === true ||
    (flags.yes !== true &&
      process.stdin.isTTY &&
      (await confirm({
        message: `Set kron.crypto.keyProvider = ${to} in ${path}?`,
        default: true,
      })));
  if (!set) {
    process.stderr.write(
      `Set kron.crypto.keyProvider = ${to} in ${path} and restart the service to use the target key.\n`,
    );
    return;
  }

  const text = await readFile(path, 'utf8');
  await writeFileAtomic(path, setProperty(text, 'kron.crypto.keyProvider', to));
  process.stderr.write(
    `Set kron.crypto.keyProvider = ${to} in ${path}. Restart the service to use it.\n`,
  );
}

function parseProvider(value: string): ProviderKind | undefined {
  return value === 'hsm' || value === 'file' ? value : undefined;
}
