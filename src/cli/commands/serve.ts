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

/** Runs the service until SIGINT or SIGTERM, then closes it. */
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
  await service.close();
  logger.info('strongroom stopped');
}
