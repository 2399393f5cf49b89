import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { softHsmVersion } from '../keys/hsm/index.js';
import { createBenchToken } from './bench-token.js';
import {
  MEASURE_MS,
  measureProvider,
  measureProviderBatches,
  measureRawGcm,
  WARMUP_MS,
} from './hsm-measurements.js';
import { combineRuns, type CombinedRun, type TimedRun } from './timing.js';
import type { Benchmark, BenchmarkReport } from './types.js';

const POOL_SIZE = 4;
/** Pairs in flight against the provider: several per session, so that no session waits for the main thread. */
const IN_FLIGHT = 16;

/** DEKs per wrapMany and unwrapMany call, and batches in flight: the DEK migration's defaults. */
const BATCH_SIZE = 500;
const BATCHES_IN_FLIGHT = 8;
/** Batch processes on 2 CPUs, the default of strongroom.hsm.batchProcesses there. */
const BATCH_PROCESSES = 2;

const TOKEN_LABEL = 'bench';
const KEY_LABEL = 'bench-master-key';

/**
 * Compares raw PKCS#11 AES-GCM on a SoftHSM token with the HSM provider's wrap and unwrap on the
 * same token, to show what the worker thread, the message passing and the session pool cost or gain.
 */
export const hsmWrapBenchmark: Benchmark = {
  id: 'hsm-wrap',
  async run(): Promise<BenchmarkReport> {
    const directory = await mkdtemp(join(tmpdir(), 'strongroom-bench-'));
    try {
      const token = await createBenchToken(directory, {
        tokenLabel: TOKEN_LABEL,
        keyLabel: KEY_LABEL,
      });
      const rawBefore = measureRawGcm(token);
      const provider = await measureProvider(token, POOL_SIZE, IN_FLIGHT);
      const oneAtATime = await measureProvider(token, POOL_SIZE, 1);
      const batch = { poolSize: POOL_SIZE, batchSize: BATCH_SIZE, inFlight: BATCHES_IN_FLIGHT };
      const batches = await measureProviderBatches(token, { ...batch, batchProcesses: 0 });
      const processBatches = await measureProviderBatches(token, {
        ...batch,
        batchProcesses: BATCH_PROCESSES,
      });
      const raw = combineRuns(rawBefore, measureRawGcm(token));
      return buildReport(
        raw,
        { provider, oneAtATime, batches, processBatches },
        await softHsmVersion(),
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  },
};

function buildReport(
  raw: CombinedRun,
  runs: { provider: TimedRun; oneAtATime: TimedRun; batches: TimedRun; processBatches: TimedRun },
  softHsm: string,
): BenchmarkReport {
  const { provider, oneAtATime, batches, processBatches } = runs;
  const ratio = provider.perSecond / raw.perSecond;
  return {
    title: 'HSM master key: AES-GCM on SoftHSM',
    description: [
      'Raw PKCS#11: pairs of C_EncryptInit + C_Encrypt and C_DecryptInit + C_Decrypt with ' +
        'CKM_AES_GCM over a 32-byte plaintext and a fresh 96-bit IV. They run in one session, with ' +
        "synchronous pkcs11js calls in a tight loop on the benchmark's main thread (no worker thread). " +
        'The raw rate is measured before and after the provider rows, and the row shows both runs together, ' +
        'so that a change in the load of the machine during the run affects the ratios less.',
      `Provider: wrap() then unwrap() of a 32-byte DEK through createHsmProvider with a pool of ${POOL_SIZE} sessions and ` +
        `${IN_FLIGHT} pairs in flight. Each call goes to the PKCS#11 worker thread, which uses pkcs11js's async calls, so ` +
        'several sessions work at once on the libuv thread pool.',
      `Batches: wrapMany() with reopen of ${BATCH_SIZE} DEKs, ${BATCHES_IN_FLIGHT} batches in flight, as the DEK ` +
        'migration calls it: each DEK is wrapped and its new wrapping decrypted again in the same session. Each batch ' +
        'is one message to the worker, which splits it into one share per session and lends each share with its ' +
        'session to a batch thread (one thread per session), which makes blocking pkcs11js calls. The rate counts ' +
        'DEKs, each one encryption and one decryption, as a raw pair.',
      `Batch processes: the same batches with strongroom.hsm.batchProcesses = ${BATCH_PROCESSES}, as \`dek migrate\` ` +
        'runs them. Each batch is split into one chunk per process, and each process has a SoftHSM instance and a ' +
        'session of its own. SoftHSM takes locks that all sessions of one process share, so processes scale where ' +
        'threads of one process contend.',
      `Each measurement runs for ${MEASURE_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up.`,
      'The ratio shows what the worker arrangement costs (message passing between threads, copies) or gains (sessions ' +
        'working in parallel). The raw loop uses one CPU, while the batch threads can use every CPU of the machine, so ' +
        'the batch ratio can exceed 1 on an idle machine. The row with one pair in flight shows the latency of a single ' +
        'wrap and unwrap. SoftHSM computes in software on the same CPUs, so a hardware or network HSM changes all numbers.',
    ],
    measurements: [
      {
        label: 'raw PKCS#11 GCM encrypt+decrypt pairs',
        perSecond: raw.perSecond,
        operations: raw.operations,
        seconds: raw.seconds,
        method: `1 session, synchronous, main thread; ${raw.describe()}`,
      },
      {
        label: 'provider wrap+unwrap pairs',
        perSecond: provider.perSecond,
        operations: provider.operations,
        seconds: provider.seconds,
        method: `worker thread, async, pool ${POOL_SIZE}, ${IN_FLIGHT} in flight`,
      },
      {
        label: 'provider wrap+unwrap pairs, one at a time',
        perSecond: oneAtATime.perSecond,
        operations: oneAtATime.operations,
        seconds: oneAtATime.seconds,
        method: `worker thread, async, pool ${POOL_SIZE}, 1 in flight (${(1000 / oneAtATime.perSecond).toFixed(2)} ms per pair)`,
      },
      {
        label: 'provider wrapMany with reopen, per DEK',
        perSecond: batches.perSecond,
        operations: batches.operations,
        seconds: batches.seconds,
        method: `batch threads, blocking, pool ${POOL_SIZE}, batches of ${BATCH_SIZE}, ${BATCHES_IN_FLIGHT} in flight`,
      },
      {
        label: 'provider wrapMany with reopen, batch processes, per DEK',
        perSecond: processBatches.perSecond,
        operations: processBatches.operations,
        seconds: processBatches.seconds,
        method: `${BATCH_PROCESSES} batch processes, blocking, batches of ${BATCH_SIZE}, ${BATCHES_IN_FLIGHT} in flight`,
      },
    ],
    summary: [
      `Ratio provider (${IN_FLIGHT} in flight) / raw: ${ratio.toFixed(2)}`,
      `Ratio provider batches / raw: ${(batches.perSecond / raw.perSecond).toFixed(2)}`,
      `Ratio provider batch processes / raw: ${(processBatches.perSecond / raw.perSecond).toFixed(2)}`,
    ],
    environment: {
      SoftHSM: softHsm,
      pkcs11js: readPackageVersion('pkcs11js'),
      'libuv thread pool (UV_THREADPOOL_SIZE)': process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)',
    },
  };
}

function readPackageVersion(name: string): string {
  try {
    const path = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
