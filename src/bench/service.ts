import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchToken } from './bench-token.js';
import { HttpClient } from './http-client.js';
import { loginWithTotpOverApi, revealOverApi } from './reveal-client.js';
import { createBenchHome, type BenchHome } from './service-home.js';
import {
  CONSTANT_ROUTE,
  freeLoopbackPort,
  readMemory,
  startBenchService,
  type BenchService,
} from './service-process-control.js';
import { buildServiceReport, type ServiceRuns } from './service-report.js';
import { runConcurrently, type TimedRun } from './timing.js';
import type { Benchmark } from './types.js';

/** Secrets in the HSM home. STRONGROOM_BENCH_SECRETS lowers it for a quick trial run. */
const SECRETS = Number(process.env['STRONGROOM_BENCH_SECRETS'] ?? 100_000);
/** Accounts revealed in the cached measurements; well below the default cache of 10,000 DEKs. */
const WORKING_SET = 1_000;
/** Requests in flight over as many keep-alive connections. */
const CONCURRENCY = 16;
const MEASURE_MS = 8_000;
/** Alternating rounds of the HSM and key file measurements, which share MEASURE_MS each. */
const ROUNDS = 4;
const WARMUP_MS = 2_000;
/** Service starts measured per provider; the report gives the median. */
const STARTS = 3;
const RSS_SAMPLE_MS = 200;

/**
 * Measures the service over HTTP on loopback: reveal throughput with the HSM and the key file as
 * master key, against a constant route of the same server, memory under load and start-up time.
 */
export const serviceBenchmark: Benchmark = {
  id: 'service',
  async run() {
    const directory = await mkdtemp(join(tmpdir(), 'strongroom-bench-service-'));
    const previousPin = process.env['STRONGROOM_HSM_PIN'];
    try {
      const token = await createBenchToken(join(directory, 'softhsm'), {
        tokenLabel: 'bench-service',
        keyLabel: 'bench-service-key',
      });
      // The seeding keyring in this process and the service processes read the PIN from here.
      process.env['STRONGROOM_HSM_PIN'] = token.pin;

      const seedStart = process.hrtime.bigint();
      const hsmHome = await createBenchHome({
        directory,
        port: await freeLoopbackPort(),
        token,
        accounts: SECRETS,
      });
      const seedSeconds = Number(process.hrtime.bigint() - seedStart) / 1e9;
      const fileHome = await createBenchHome({
        directory,
        port: await freeLoopbackPort(),
        token: undefined,
        accounts: WORKING_SET,
      });

      const hsmStarts = await measureStarts(hsmHome);
      const fileStarts = await measureStarts(fileHome);
      const measured = await measureServices(hsmHome, fileHome);
      const runs: ServiceRuns = {
        secrets: SECRETS,
        workingSet: WORKING_SET,
        concurrency: CONCURRENCY,
        measureMs: MEASURE_MS,
        warmupMs: WARMUP_MS,
        rounds: ROUNDS,
        seedSeconds,
        hsmStarts,
        fileStarts,
        ...measured,
      };
      return buildServiceReport(runs);
    } finally {
      restoreEnv('STRONGROOM_HSM_PIN', previousPin);
      await rm(directory, { recursive: true, force: true });
    }
  },
};

async function measureStarts(home: BenchHome): Promise<number[]> {
  const seconds: number[] = [];
  for (let index = 0; index < STARTS; index++) {
    const service = await startBenchService(home.home, home.port);
    seconds.push(service.startSeconds);
    await service.stop();
  }
  return seconds;
}

type ServiceMeasurements = Omit<
  ServiceRuns,
  | 'secrets'
  | 'workingSet'
  | 'concurrency'
  | 'measureMs'
  | 'warmupMs'
  | 'rounds'
  | 'seedSeconds'
  | 'hsmStarts'
  | 'fileStarts'
>;

/** A running service with a logged-in client and its working set of accounts. */
interface LoadTarget {
  service: BenchService;
  client: HttpClient;
  token: string;
  revealHot: () => Promise<void>;
}

/**
 * Runs both services at once and measures cached reveals on each in alternating rounds, so that
 * a change in the load of the machine during the run affects both alike. Then measures the
 * constant route and reveals over every secret on the HSM service, with the memory it uses.
 */
async function measureServices(
  hsmHome: BenchHome,
  fileHome: BenchHome,
): Promise<ServiceMeasurements> {
  const hsm = await openLoadTarget(hsmHome);
  try {
    const file = await openLoadTarget(fileHome);
    try {
      const idleRss = readMemory(hsm.service.pid).rss;
      const hsmRounds: TimedRun[] = [];
      const fileRounds: TimedRun[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        hsmRounds.push(await measure(hsm.revealHot, MEASURE_MS / ROUNDS));
        fileRounds.push(await measure(file.revealHot, MEASURE_MS / ROUNDS));
      }

      const constant = await measure(async () => {
        const response = await hsm.client.send('POST', CONSTANT_ROUTE, {
          token: hsm.token,
          body: { reason: 'benchmark load' },
        });
        if (response.status !== 200) {
          throw new Error(`${CONSTANT_ROUTE} returned ${response.status}`);
        }
      });
      const { run: wideReveal, maxRss } = await withRssSampling(hsm.service, () =>
        measure(() => revealOverApi(hsm.client, hsm.token, pick(hsmHome.accountIds))),
      );
      return {
        hsmReveal: combine(hsmRounds),
        fileReveal: combine(fileRounds),
        constant,
        wideReveal,
        idleRss,
        loadRss: maxRss,
        peakRss: readMemory(hsm.service.pid).peak,
      };
    } finally {
      await closeLoadTarget(file);
    }
  } finally {
    await closeLoadTarget(hsm);
  }
}

/**
 * Starts the service of a home, logs the operator in (enrolling TOTP) and reveals each account of
 * the working set once.
 */
async function openLoadTarget(home: BenchHome): Promise<LoadTarget> {
  const service = await startBenchService(home.home, home.port);
  const client = new HttpClient(service.baseUrl, CONCURRENCY);
  try {
    const { username, password } = home.users.operator;
    const token = await loginWithTotpOverApi(client, username, password);
    const hot = home.accountIds.slice(0, WORKING_SET);
    for (const accountId of hot) {
      await revealOverApi(client, token, accountId);
    }
    return { service, client, token, revealHot: () => revealOverApi(client, token, pick(hot)) };
  } catch (error) {
    client.close();
    await service.stop();
    throw error;
  }
}

async function closeLoadTarget(target: LoadTarget): Promise<void> {
  target.client.close();
  await target.service.stop();
}

function combine(runs: readonly TimedRun[]): TimedRun {
  const operations = runs.reduce((sum, run) => sum + run.operations, 0);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  return { operations, seconds, perSecond: operations / seconds };
}

async function measure(task: () => Promise<void>, durationMs = MEASURE_MS): Promise<TimedRun> {
  await runConcurrently(WARMUP_MS, CONCURRENCY, task);
  return runConcurrently(durationMs, CONCURRENCY, task);
}

/** Runs `work` while sampling the service's RSS, and returns the largest sample. */
async function withRssSampling<T>(
  service: BenchService,
  work: () => Promise<T>,
): Promise<{ run: T; maxRss: number }> {
  let maxRss = readMemory(service.pid).rss;
  const timer = setInterval(() => {
    maxRss = Math.max(maxRss, readMemory(service.pid).rss);
  }, RSS_SAMPLE_MS);
  try {
    const run = await work();
    return { run, maxRss: Math.max(maxRss, readMemory(service.pid).rss) };
  } finally {
    clearInterval(timer);
  }
}

function pick(ids: readonly string[]): string {
  return ids[Math.floor(Math.random() * ids.length)] ?? '';
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) {
    delete process.env[name];
  } else {
    process.env[name] = value;
  }
}
