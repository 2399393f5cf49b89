import type { Command } from 'commander';
import { resolveHome } from '../../config/home.js';
import { runDoctor } from '../../doctor/run.js';
import type { CheckResult } from '../../doctor/types.js';
import { createCliLogger } from '../logger.js';
import { EXIT, runCommand } from '../output.js';

interface DoctorFlags {
  home?: string;
  json?: boolean;
}

const LABELS: Record<CheckResult['status'], string> = {
  ok: 'ok',
  warning: 'warning',
  failed: 'FAILED',
  skipped: 'skipped',
};

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check files and modes, the Utimaco client file and devices, the HSM token and key, the database and the DEKs; exit 0 when no check failed, 1 otherwise',
    )
    .option('--home <dir>', 'home folder (default: $STRONGROOM_HOME or the current directory)')
    .option('--json', 'print the checks as JSON')
    .action(async (flags: DoctorFlags) => {
      await runCommand(flags.json === true, async () => {
        const home = resolveHome(flags.home);
        const logger = createCliLogger();
        const checks = await runDoctor(home, process.env, logger);
        const ok = !checks.some((check) => check.status === 'failed');

        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify({ home, ok, checks })}\n`);
        } else {
          process.stdout.write(formatChecks(checks));
        }
        if (!ok) {
          process.exitCode = EXIT.failed;
        }
      });
    });
}

/** Formats the checks one line each, with the fix on the next line. */
export function formatChecks(checks: CheckResult[]): string {
  const lines = checks.flatMap((check) => {
    const head = `[${LABELS[check.status]}] ${check.name}: ${check.code === undefined ? '' : `${check.code}: `}${check.message}`;
    return check.fix === undefined ? [head] : [head, `    fix: ${check.fix}`];
  });
  return `${lines.join('\n')}\n`;
}
