/**
 * Runs the service for the service benchmark in a process of its own, so that the load generator
 * does not share its event loop: `node dist/bench/service-process.js HOME`. It adds
 * POST /bench/constant, which returns a constant without authentication, database or key, as the
 * baseline for the reveal route. SIGTERM closes the service.
 */
import { startService } from '../app.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../logging.js';
import { CONSTANT_ROUTE } from './service-process-control.js';

async function main(): Promise<void> {
  const home = process.argv[2];
  if (home === undefined) {
    throw new Error('usage: node dist/bench/service-process.js HOME');
  }
  const config = await loadConfig(home);
  const logger = createLogger(config.logLevel);
  const service = await startService(config, logger, {
    extendServer: (server) => {
      server.post(CONSTANT_ROUTE, async () => ({ secret: 'constant', secretVersion: 1 }));
    },
  });

  process.once('SIGTERM', () => {
    void service.close().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  console.error('bench service failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
