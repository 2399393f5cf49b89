import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProviderStatus } from '../keys/types.js';

/** Counters and size of the DEK cache, as Keyring.cacheStats() returns them. */
export interface DekCacheStats {
  hits: number;
  misses: number;
  size: number;
}

/**
 * Registers the DEK cache metrics, read from `read` at each scrape. The cache counts from the
 * start of the service, so the counters are set to its totals rather than incremented.
 */
export function registerDekCacheMetrics(registry: Registry, read: () => DekCacheStats): void {
  new Counter({
    name: 'strongroom_dek_cache_hits_total',
    help: 'DEK lookups served from the in-memory cache without a master key operation.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().hits);
    },
  });
  new Counter({
    name: 'strongroom_dek_cache_misses_total',
    help: 'DEK lookups that found no live cache entry and unwrapped the DEK with the master key.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().misses);
    },
  });
  new Gauge({
    name: 'strongroom_dek_cache_entries',
    help: 'DEKs held in the cache (bounded by strongroom.dekCache.maxEntries).',
    registers: [registry],
    collect() {
      this.set(read().size);
    },
  });
}

/**
 * Registers gauges read from each provider's status() at each scrape: whether the provider is
 * ready, and for the HSM the session pool size and whether the worker reports a connection.
 */
export function registerProviderStatusMetrics(
  registry: Registry,
  read: () => ProviderStatus[],
): void {
  const slotOf = (status: ProviderStatus): string => {
    const slotId = status.detail['slotId'];
    return slotId === undefined ? 'none' : String(slotId);
  };

  new Gauge({
    name: 'strongroom_master_key_provider_ready',
    help: 'Whether the master key provider reports itself ready (1) or not (0).',
    labelNames: ['provider', 'slot'],
    registers: [registry],
    collect() {
      this.reset();
      for (const status of read()) {
        this.set({ provider: status.kind, slot: slotOf(status) }, status.ready ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'strongroom_hsm_session_pool_size',
    help: 'PKCS#11 sessions in the HSM provider pool (strongroom.hsm.poolSize).',
    labelNames: ['slot'],
    registers: [registry],
    collect() {
      this.reset();
      for (const status of read()) {
        const size = status.detail['poolSize'];
        if (status.kind === 'hsm' && typeof size === 'number') {
          this.set({ slot: slotOf(status) }, size);
        }
      }
    },
  });
  registerFailoverMetrics(registry, read);
  new Gauge({
    name: 'strongroom_hsm_connected',
    help: 'Whether the PKCS#11 worker reports a working connection to the token (1) or not (0).',
    labelNames: ['slot'],
    registers: [registry],
    collect() {
      this.reset();
      for (const status of read()) {
        const connected = status.detail['connected'];
        if (status.kind === 'hsm' && typeof connected === 'boolean') {
          this.set({ slot: slotOf(status) }, connected ? 1 : 0);
        }
      }
    },
  });
}

/**
 * Registers the metrics of an HSM failover group, read from the status of the provider: the
 * position of the active member (0 is the primary) and the switches since start. Providers
 * without a failover group export none of them.
 */
function registerFailoverMetrics(registry: Registry, read: () => ProviderStatus[]): void {
  const failoverDetail = (key: string): number[] =>
    read()
      .map((status) => status.detail[key])
      .filter((value): value is number => typeof value === 'number');

  new Gauge({
    name: 'strongroom_hsm_active_member',
    help: 'Position of the HSM failover member that serves, in configured order: 0 is the primary (hsm.provider.configPath), 1 the first of strongroom.hsm.failover.configPaths.',
    registers: [registry],
    collect() {
      this.reset();
      for (const member of failoverDetail('activeMember')) {
        this.set(member);
      }
    },
  });
  new Counter({
    name: 'strongroom_hsm_failovers_total',
    help: 'Switches from an unreachable HSM failover member to the next member that works.',
    registers: [registry],
    collect() {
      this.reset();
      for (const count of failoverDetail('failovers')) {
        this.inc(count);
      }
    },
  });
  new Counter({
    name: 'strongroom_hsm_failbacks_total',
    help: 'Returns to the primary HSM member after it worked again (probed every strongroom.hsm.failover.retryPrimarySeconds).',
    registers: [registry],
    collect() {
      this.reset();
      for (const count of failoverDetail('failbacks')) {
        this.inc(count);
      }
    },
  });
}
