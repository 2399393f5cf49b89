import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Upper bounds in seconds of the master key latency buckets. They reach from a local SoftHSM
 * call (about 0.1 ms) to a network HSM that reconnects (seconds).
 */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Labels of one master key operation: the provider kind, its slot and the method called. */
export interface OperationLabels {
  provider: string;
  slot: string;
  operation: string;
}

/** The metrics of master key operations that the instrumented provider updates. */
export interface ProviderMetrics {
  operations: Counter<'provider' | 'slot' | 'operation' | 'result'>;
  duration: Histogram<'provider' | 'slot' | 'operation'>;
  errors: Counter<'provider' | 'slot' | 'operation' | 'code' | 'ckr'>;
  inFlight: Gauge<'provider' | 'slot'>;
}

/** Registers the master key operation metrics in `registry`. */
export function registerProviderMetrics(registry: Registry): ProviderMetrics {
  return {
    operations: new Counter({
      name: 'strongroom_master_key_operations_total',
      help: 'Master key provider operations (HSM or key file) by result: ok or error.',
      labelNames: ['provider', 'slot', 'operation', 'result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'strongroom_master_key_operation_duration_seconds',
      help: 'Time from the call of a master key operation to its result, including the wait for a pooled HSM session.',
      labelNames: ['provider', 'slot', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'strongroom_master_key_operation_errors_total',
      help: 'Failed master key operations by Strongroom error code and PKCS#11 return value (ckr is none when the failure carries no CKR).',
      labelNames: ['provider', 'slot', 'operation', 'code', 'ckr'],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'strongroom_master_key_operations_in_flight',
      help: 'Master key operations started and not finished. For the HSM, the part above strongroom_hsm_session_pool_size waits for a session.',
      labelNames: ['provider', 'slot'],
      registers: [registry],
    }),
  };
}
