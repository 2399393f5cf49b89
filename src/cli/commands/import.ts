import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';

import { confirm } from '@inquirer/prompts';
import type { Command } from 'commander';

import { createAuditLog } from '../../audit/index.js';
import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import { openKeyring } from '../../keys/open-keyring.js';
import { createCliLogger } from '../logger.js';
import { openStore } from '../../store/index.js';
import { createVaultImporter, type ImportReport } from '../../vault/import/importer.js';
import { CONFIRMATION_NEEDS_YES, EXIT, runCommand, usageError } from '../output.js';

interface ImportFlags {
  home?: string;
  skipInvalid?: boolean;
  yes?: boolean;
  json?: boolean;
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description(
      'import targets and accounts from a CSV file (see docs/import.md) in one transaction; exit 0 when the rows were imported, 1 when nothing was',
    )
    .argument('<file>', 'CSV file with a header row')
    .option('--home <dir>', 'home folder (default: $STRONGROOM_HOME or the current directory)')
    .option('--skip-invalid', 'import the valid rows of a file that has invalid ones')
    .option('--yes', 'do not ask for confirmation; required when standard input is not a terminal')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, flags: ImportFlags) => {
      await runCommand(flags.json === true, async () => {
        if (flags.yes !== true && !process.stdin.isTTY) {
          usageError(CONFIRMATION_NEEDS_YES, flags.json === true);
          return;
        }
        const report = await importFile(file, flags);
        process.stdout.write(
          flags.json === true ? `${JSON.stringify(report)}\n` : formatReport(report),
        );
        if (!report.imported) {
          process.exitCode = EXIT.failed;
        }
      });
    });
}

async function importFile(file: string, flags: ImportFlags): Promise<ImportReport> {
  const text = await readFile(file, 'utf8');
  const config = await loadConfig(resolveHome(flags.home));
  const logger = createCliLogger();
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  try {
    const keyring = await openKeyring(config, store.keys, logger);
    try {
      const importer = createVaultImporter({
        vault: store.vault,
        imports: store.imports,
        keyring,
        audit: createAuditLog(store, logger),
        logger,
      });
      return await importer.importCsv(
        text,
        {
          skipInvalid: flags.skipInvalid === true,
          ...(flags.yes === true ? {} : { confirm: askToImport }),
        },
        {
          userId: '',
          username: `os:${userInfo().username}`,
          role: 'administrator',
          clientAddress: 'cli',
        },
      );
    } finally {
      await keyring.close();
    }
  } finally {
    await store.close();
  }
}

async function askToImport(preview: ImportReport): Promise<boolean> {
  process.stdout.write(formatErrors(preview));
  return confirm({
    message: `Create ${count(preview.targetsCreated, 'target')} and ${count(preview.accountsCreated, 'account')}${preview.rowsSkipped > 0 ? `, skipping ${count(preview.rowsSkipped, 'invalid row')}` : ''}?`,
    default: false,
  });
}

function formatReport(report: ImportReport): string {
  if (report.imported) {
    const skipped =
      report.rowsSkipped > 0 ? `; skipped ${count(report.rowsSkipped, 'invalid row')}` : '';
    return `${formatErrors(report)}Imported ${count(report.accountsCreated, 'account')} and ${count(report.targetsCreated, 'new target')} from ${count(report.rows, 'row')}${skipped}.\n`;
  }
  if (report.errors.length === 0) {
    return 'Nothing was imported.\n';
  }
  return `${formatErrors(report)}Nothing was imported: the file has ${count(report.errors.length, 'invalid row')}. Fix them, or pass --skip-invalid to import only the valid rows.\n`;
}

function formatErrors(report: ImportReport): string {
  return report.errors.map((error) => `line ${error.line}: ${error.message}\n`).join('');
}

function count(value: number, noun: string): string {
  return `${value} ${noun}${value === 1 ? '' : 's'}`;
}
