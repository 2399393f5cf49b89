import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { MasterKeyProvider, ProviderStatus } from '../keys/types.js';
import { monitorEventLoop, type EventLoopMonitor } from './event-loop.js';
import { instrumentProvider } from './instrumented-provider.js';
import { registerProviderMetrics, type ProviderMetrics } from './provider-metrics.js';
import {
  registerDekCacheMetrics,
  registerProviderStatusMetrics,
  type DekCacheStats,
} from './state-metrics.js';

/** The service metrics for /metrics, in their own prom-client registry. */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** Wraps a provider so that its operations update the metrics and the debug log. */
  instrument(provider: MasterKeyProvider): MasterKeyProvider;
  /** Exports the DEK cache counters and the provider states, read at each scrape. */
  observeKeyring(keyring: { cacheStats(): DekCacheStats; statuses(): ProviderStatus[] }): void;
  /** Stops the event-loop monitor. */
  stop(): void;
}

/**
 * Creates the service metrics: the Node.js process metrics of prom-client (memory, CPU, garbage
 * collection, file descriptors), the event-loop delay and the master key operations.
 */
export function createServiceMetrics(logger: Logger): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const eventLoop: EventLoopMonitor = monitorEventLoop(registry);
  const providerMetrics: ProviderMetrics = registerProviderMetrics(registry);

  return {
    registry,
    instrument: (provider) => instrumentProvider(provider, providerMetrics, logger),
    observeKeyring(keyring) {
      registerDekCacheMetrics(registry, () => keyring.cacheStats());
      registerProviderStatusMetrics(registry, () => keyring.statuses());
    },
    stop: () => eventLoop.stop(),
  };
}
