import type { Logger } from 'pino';
import { isStrongroomError } from '../errors.js';
import { ckrName, ckrOf } from '../keys/hsm/pkcs11-failures.js';
import type { MasterKeyProvider } from '../keys/types.js';
import type { OperationLabels, ProviderMetrics } from './provider-metrics.js';

/** Methods that return at once from memory and are passed through without measuring. */
const UNMEASURED = new Set<PropertyKey>(['ref', 'status', 'constructor']);

/**
 * Wraps a master key provider so that every method that returns a promise (open, wrap, unwrap,
 * close and any method added to the interface later) is counted, timed and logged at debug level.
 * Other properties pass through unchanged. The arguments and results, which hold DEKs, are never
 * read or logged: a log line has the operation, slot, duration and result only.
 */
export function instrumentProvider(
  provider: MasterKeyProvider,
  metrics: ProviderMetrics,
  logger: Logger,
): MasterKeyProvider {
  const log = logger.child({ component: provider.kind === 'hsm' ? 'hsm' : 'master-key' });

  return new Proxy(provider, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || UNMEASURED.has(property)) {
        return typeof value === 'function' ? value.bind(target) : value;
      }

      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        // An async method runs synchronously up to its first await, so the clock starts first.
        const started = process.hrtime.bigint();
        const labels = labelsOf(target, String(property));
        const result = method.apply(target, args);
        if (!(result instanceof Promise)) {
          return result;
        }
        return measure(result, started, labels, metrics, log);
      };
    },
  });
}

async function measure<T>(
  pending: Promise<T>,
  started: bigint,
  labels: OperationLabels,
  metrics: ProviderMetrics,
  log: Logger,
): Promise<T> {
  const gaugeLabels = { provider: labels.provider, slot: labels.slot };
  metrics.inFlight.inc(gaugeLabels);

  try {
    const value = await pending;
    record(labels, started, 'ok', metrics, log);
    return value;
  } catch (error) {
    const code = isStrongroomError(error) ? error.code : 'unknown';
    const ckr = ckrLabel(error);
    metrics.errors.inc({ ...labels, code, ckr });
    record(labels, started, 'error', metrics, log, { code, ckr });
    throw error;
  } finally {
    metrics.inFlight.dec(gaugeLabels);
  }
}

function record(
  labels: OperationLabels,
  started: bigint,
  result: 'ok' | 'error',
  metrics: ProviderMetrics,
  log: Logger,
  failure: { code: string; ckr: string } | undefined = undefined,
): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  metrics.operations.inc({ ...labels, result });
  metrics.duration.observe(labels, seconds);
  log.debug(
    {
      provider: labels.provider,
      slot: labels.slot,
      operation: labels.operation,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      result,
      ...failure,
    },
    'master key operation finished',
  );
}

/**
 * Returns the slot label: the slot ID that the HSM provider reports once open, or `none` for the
 * key file and for an HSM provider that is not open yet.
 */
function labelsOf(provider: MasterKeyProvider, operation: string): OperationLabels {
  const slotId = provider.status().detail['slotId'];
  return {
    provider: provider.kind,
    slot: slotId === undefined ? 'none' : String(slotId),
    operation,
  };
}

/** A CKR constant name, or the hex form that ckrName() gives a value without a name. */
const CKR_PATTERN = /^(CKR_[A-Z0-9_]+|CKR 0x[0-9a-f]{8})$/;

/**
 * Returns the CKR name of a failure. The worker sends errors as StrongroomErrors whose details
 * carry the CKR name, and an error raised on this thread may carry the pkcs11js error itself.
 * Any other text in `details.ckr` (describeFailure() falls back to an error message) becomes
 * `none`, which keeps the label values few and free of message text.
 */
function ckrLabel(error: unknown): string {
  if (isStrongroomError(error)) {
    const ckr = error.details['ckr'];
    if (typeof ckr === 'string' && CKR_PATTERN.test(ckr)) {
      return ckr;
    }
  }
  const code = ckrOf(error);
  return code === undefined ? 'none' : ckrName(code);
}
