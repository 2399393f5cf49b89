import type { Command } from 'commander';
import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../logging.js';
import { startService } from '../../app.js';
import { runCommand } from '../output.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the service: REST API, health and OpenAPI document')
    .option('--home <dir>', 'home folder (default: $STRONGROOM_HOME or the current directory)')
    .action(async (flags: { home?: string }) => {
      await runCommand(false, () => serve(resolveHome(flags.home)));
    });
}

/**
 * How long closing the service may take after the signal before the process exits anyway. A hung
 * HSM call or database connection must not keep a stopped service alive until the supervisor
 * kills it without a log line.
 */
const SHUTDOWN_DEADLINE_MS = 30_000;

/**
 * Runs the service until SIGINT or SIGTERM, then closes it. A second signal, or a shutdown that
 * passes SHUTDOWN_DEADLINE_MS, kills the process with SIGKILL after a log line.
 */
export async function serve(home: string): Promise<void> {
  const config = await loadConfig(home);
  const logger = createLogger(config.logLevel);
  for (const warning of config.warnings) {
    logger.warn({ home }, warning);
  }
  const service = await startService(config, logger).catch((error: unknown) => {
    // journald and log collectors read the JSON log, not only standard error.
    logger.fatal({ err: error }, 'strongroom failed to start');
    throw error;
  });

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'strongroom stopping');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const exitNow = (reason: string): void => {
    logger.error({ reason }, 'strongroom exits before its shutdown finished');
    // In a CI run the process was still alive 10 s after process.exit(1), most likely because
    // Node.js waits for a worker thread blocked in a PKCS#11 call. So the process kills itself once
    // the log line is written, or after 1 s if the write does not finish.
    const kill = () => process.kill(process.pid, 'SIGKILL');
    setTimeout(kill, 1_000);
    logger.flush(kill);
  };
  const deadline = setTimeout(
    () => exitNow(`the shutdown took longer than ${SHUTDOWN_DEADLINE_MS / 1000} s`),
    SHUTDOWN_DEADLINE_MS,
  );
  deadline.unref();
  const again = (signal: string) => exitNow(`${signal} arrived during the shutdown`);
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  try {
    await service.close();
  } finally {
    clearTimeout(deadline);
    process.off('SIGINT', again);
    process.off('SIGTERM', again);
  }
  logger.info('strongroom stopped');
}
