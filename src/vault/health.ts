import type { Logger } from 'pino';
import type { Keyring } from '../keys/keyring.js';
import type { Store } from '../store/repositories.js';
import type { HealthReport, HealthService } from './types.js';

/**
 * Creates the health check: the database must respond and the active master key must open its
 * canary. Results are reused for `cacheMs` so that frequent probes do not load the HSM.
 */
export function createHealthService(
  keyring: Keyring,
  store: Store,
  logger: Logger,
  cacheMs = 2000,
): HealthService {
  let last: { at: number; report: HealthReport } | undefined;

  async function probe(): Promise<HealthReport> {
    const reachable = await store.ping().then(
      () => true,
      (error: unknown) => {
        logger.error({ err: error }, 'database failed its health check');
        return false;
      },
    );

    // The canary is read from the database, so without it the key cannot be proven either way:
    // the provider then keeps the state it reports itself, rather than being blamed.
    const keyUsable = !reachable
      ? true
      : await keyring.probeActive().then(
          () => true,
          (error: unknown) => {
            logger.error(
              { err: error, provider: keyring.activeKind },
              'active master key failed its health check',
            );
            return false;
          },
        );

    const providers = keyring
      .statuses()
      .map((status) =>
        status.kind === keyring.activeKind
          ? { ...status, ready: status.ready && keyUsable }
          : status,
      );
    return {
      healthy: keyUsable && reachable,
      activeProvider: keyring.activeKind,
      providers,
      database: { dialect: store.dialect, reachable },
    };
  }

  return {
    async check() {
      const now = Date.now();
      if (last !== undefined && now - last.at < cacheMs) {
        return last.report;
      }
      const report = await probe();
      last = { at: now, report };
      return report;
    },
  };
}
