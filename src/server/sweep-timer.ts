import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import type { CheckoutSweeper } from '../access/sweep.js';

/**
 * Runs the expiry sweep every `intervalSeconds` while the server is open; 0 turns it off. The timer
 * does not keep the process alive, and a failed sweep is logged and tried again at the next tick.
 */
export function startExpirySweep(
  app: FastifyInstance,
  sweeper: CheckoutSweeper,
  intervalSeconds: number,
  logger: Logger,
): void {
  if (intervalSeconds <= 0) {
    return;
  }

  let running = false;
  const timer = setInterval(() => {
    if (running) {
      return;
    }
    running = true;
    sweeper
      .sweep()
      .then((result) => {
        if (result.grantsExpired > 0 || result.checkoutsExpired > 0) {
          logger.info(result, 'expired grants and checkouts recorded');
        }
      })
      .catch((error: unknown) => logger.error({ err: error }, 'expiry sweep failed'))
      .finally(() => {
        running = false;
      });
  }, intervalSeconds * 1000);
  timer.unref();

  app.addHook('onClose', async () => clearInterval(timer));
}
