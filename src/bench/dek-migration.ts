import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createKeyFile } from '../keys/file/key-file.js';
import { softHsmVersion } from '../keys/hsm/index.js';
import type { MasterKeyProvider } from '../keys/types.js';
import { createBenchToken } from './bench-token.js';
import {
  BATCH_PROCESSES,
  createTargetProvider,
  PAGE_SIZE,
  PAGES_IN_FLIGHT,
  sqliteUrl,
  timeMigration,
  timeWithOwnTarget,
  type MigrationSetup,
  type TimedMigration,
} from './dek-migration-run.js';
import { measureRawGcm } from './hsm-measurements.js';
import {
  createBenchDatabase,
  dropBenchDatabase,
  findBenchPostgres,
  readServerVersion,
  type BenchPostgres,
} from './postgres-server.js';
import { combineRuns, type CombinedRun } from './timing.js';
import type { Benchmark, BenchmarkReport, Measurement } from './types.js';

const SIZES = [10_000, 100_000] as const;
/** DEKs of the untimed migration that warms up the process and the batch processes. */
const WARMUP_COUNT = 10_000;
/** The rate that each migration should reach, as a share of the raw PKCS#11 pair rate. */
const TARGET_RATIO = 0.8;
/**
 * Time allowed for the large PostgreSQL run, so that the whole `npm run bench` stays near 5 minutes
 * on a 2-CPU machine. When 10 times the 10k time exceeds it, fewer DEKs are seeded.
 */
const POSTGRES_LARGE_BUDGET_S = 150;

const TOKEN_LABEL = 'bench-migration';
const KEY_LABEL = 'bench-migration-key';

/** One timed migration of `count` DEKs. */
interface MigrationRun extends TimedMigration {
  database: 'SQLite' | 'PostgreSQL';
  count: number;
}

/**
 * Times runDekMigration from a file master key to an AES key on a SoftHSM token, for 10,000 and
 * 100,000 DEKs on SQLite and on PostgreSQL, and compares each rate with raw PKCS#11 GCM pairs on
 * the same token. The raw pairs are measured after a warm-up, and so are the migrations: one
 * untimed migration runs first with the provider that the timed runs share. A migration in a new
 * process with new batch processes, as one `dek migrate` command runs it, is timed before that
 * and reported as the cold start.
 */
export const dekMigrationBenchmark: Benchmark = {
  id: 'dek-migration',
  async run(): Promise<BenchmarkReport> {
    const directory = await mkdtemp(join(tmpdir(), 'strongroom-bench-migration-'));
    try {
      const token = await createBenchToken(directory, {
        tokenLabel: TOKEN_LABEL,
        keyLabel: KEY_LABEL,
      });
      const keyFile = join(directory, 'master.key');
      await createKeyFile(keyFile);
      const setup: MigrationSetup = { directory, keyFile, token, logger: pino({ level: 'warn' }) };

      const rawBefore = measureRawGcm(setup.token);
      const cold = await timeWithOwnTarget(setup, sqliteUrl(setup, 'cold'), SIZES[0]);
      const target = createTargetProvider(setup);
      const runs: MigrationRun[] = [];
      let postgres: { runs: MigrationRun[]; notes: string[]; environment: string };
      try {
        await target.open();
        await timeMigration(setup, target, sqliteUrl(setup, 'warm-up'), WARMUP_COUNT);
        for (const count of SIZES) {
          const url = sqliteUrl(setup, `migration-${count}`);
          runs.push({
            database: 'SQLite',
            count,
            ...(await timeMigration(setup, target, url, count)),
          });
        }
        postgres = await measurePostgres(setup, target);
        runs.push(...postgres.runs);
      } finally {
        await target.close();
      }
      const raw = combineRuns(rawBefore, measureRawGcm(setup.token));

      return buildReport(raw, { cold, runs }, postgres.notes, {
        SoftHSM: await softHsmVersion(),
        'PostgreSQL (DEK migration)': postgres.environment,
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  },
};

/** Runs the PostgreSQL sizes, or explains why they were not measured. */
async function measurePostgres(
  setup: MigrationSetup,
  target: MasterKeyProvider,
): Promise<{ runs: MigrationRun[]; notes: string[]; environment: string }> {
  const availability = await findBenchPostgres();
  if (!availability.available) {
    return {
      runs: [],
      notes: [`PostgreSQL not measured: ${availability.reason}`],
      environment: 'not measured',
    };
  }

  const { server } = availability;
  try {
    const version = await readServerVersion(server.serverUrl);
    const runs: MigrationRun[] = [];
    const notes: string[] = [];
    const time = (count: number) => timeOnPostgres(setup, target, server, count);
    // The new server warms up with an untimed run too, as the process did on SQLite.
    await time(WARMUP_COUNT);
    const small = await time(SIZES[0]);
    runs.push({ database: 'PostgreSQL', count: SIZES[0], ...small });

    // An estimate that assumes linear growth from the small run.
    const secondsPerDek = small.run.seconds / SIZES[0];
    const fitting = Math.floor(POSTGRES_LARGE_BUDGET_S / secondsPerDek / 10_000) * 10_000;
    const largeCount = Math.min(SIZES[1], Math.max(SIZES[0], fitting));
    if (largeCount < SIZES[1]) {
      notes.push(
        `PostgreSQL large run uses ${largeCount} DEKs instead of ${SIZES[1]}, because the 10k run ` +
          `projects more than ${POSTGRES_LARGE_BUDGET_S} s for ${SIZES[1]}`,
      );
    }
    runs.push({ database: 'PostgreSQL', count: largeCount, ...(await time(largeCount)) });
    return { runs, notes, environment: `${version} (${server.origin}, fsync off)` };
  } finally {
    await server.stop();
  }
}

async function timeOnPostgres(
  setup: MigrationSetup,
  target: MasterKeyProvider,
  server: BenchPostgres,
  count: number,
): Promise<TimedMigration> {
  const url = await createBenchDatabase(server.serverUrl);
  try {
    return await timeMigration(setup, target, url, count);
  } finally {
    await dropBenchDatabase(server.serverUrl, url);
  }
}

const DESCRIPTION = [
  'Each row seeds a new database with random 32-byte DEKs wrapped under a file master key ' +
    '(AES-256-GCM in Node), using multi-row INSERTs of 1,000 rows in transactions of 20,000 on a ' +
    'separate Kysely connection. The seeding is not timed.',
  'The timed part is one runDekMigration call from the file key to an AES key on a SoftHSM token, ' +
    `with pages of ${PAGE_SIZE} DEKs, ${PAGES_IN_FLIGHT} pages in flight and ${BATCH_PROCESSES} ` +
    'batch processes, as `dek migrate` runs it on 2 CPUs. It includes the lock, the source proof ' +
    'and the target canary. Each page is decrypted with GCM in Node and sent to the batch processes ' +
    'as one wrapMany call with reopen, split into one chunk per process. A process wraps each DEK ' +
    'and decrypts the new wrapping again before it replies, so a page needs one round trip. Each ' +
    'page is written in one transaction: one UPDATE on PostgreSQL, bounded to the ids of the page. ' +
    'Then come the sweep for DEKs created during the run and the verify pass, which reads every DEK ' +
    'under the target again, compares it with what opened, and opens on the HSM only the rows that ' +
    'differ. Last come the journal and the audit event. The re-wrap time ends at the last page, and ' +
    'the verify time is the rest of the call.',
  'A migrated DEK costs one HSM encrypt and one HSM decrypt, so the raw pair rate on the same ' +
    'token, measured before the first and after the last migration of the same run, is what the ' +
    `ratio compares with. The target is ${TARGET_RATIO}. The growth factor is time(100k) / ` +
    'time(10k): about 10 means the time grows linearly with the number of DEKs.',
  'Warm-up. The raw pairs run for 0.3 s before they are timed, so that the JIT compiler has ' +
    'compiled the loop. The migrations are measured the same way: the timed runs share one target ' +
    `provider and its batch processes, and an untimed migration of ${WARMUP_COUNT} DEKs runs ` +
    'first, on SQLite and again on the new PostgreSQL server. A `dek migrate` command starts cold ' +
    'instead. Its main process and its batch processes compile the same code while they migrate, ' +
    'and on 2 CPUs that takes CPU time from SoftHSM. The cold start row is that case: the first ' +
    'migration of the benchmark process, with a provider and batch processes of its own. The ' +
    'summary gives its ratio and how much longer it took than the same size after the warm-up.',
  'Why batch processes. SoftHSM 2.6 takes locks that all sessions of one process share, and it ' +
    'checks its token files on each use of a key. In a trial, two threads with a session each ' +
    'reached 1.2 to 1.5 times the raw rate of one thread, and two processes reached 2 times. With ' +
    'two batch processes the run is bound by CPU time: the processes, the main thread and the ' +
    'PostgreSQL server share the 2 CPUs. PostgreSQL stays below SQLite because its server needs ' +
    'CPU time of its own for each page. A network or PCIe HSM computes on its own hardware and ' +
    'leaves those CPUs to the rest of the run.',
  "The ratio depends on the CPU. Strongroom's own work per DEK, the row reads and writes, the " +
    'file key decryption and the messages to the batch processes, shares the 2 CPUs with SoftHSM, ' +
    'so it weighs more where SoftHSM computes a pair faster. An earlier version, on a 2-CPU Intel ' +
    'Xeon where a raw pair took 26 µs, reached 0.80 to 0.92 on SQLite and 0.67 to 0.80 on ' +
    'PostgreSQL. A hardware HSM computes on its own and leaves the CPUs to Strongroom.',
  'Earlier changes that the ratio rests on. The deks table of SQLite is stored in id order ' +
    '(WITHOUT ROWID), so a page writes a few table pages instead of one per DEK. SQLite keeps ' +
    'prepared statements, and a page commit on SQLite does not wait for the disk. The verify pass ' +
    'compares bytes instead of asking the HSM a second time. Ratios of repeated runs vary by about ' +
    '0.1, and more for the 10k rows.',
  'SQLite uses a temporary file. PostgreSQL uses STRONGROOM_BENCH_POSTGRES_URL when set, and ' +
    'otherwise a throwaway local cluster with fsync and synchronous_commit off, so its rates are ' +
    'higher than a durable server gives. Each size uses a new database.',
];

function buildReport(
  raw: CombinedRun,
  measured: { cold: TimedMigration; runs: MigrationRun[] },
  notes: string[],
  environment: Record<string, string>,
): BenchmarkReport {
  const { cold, runs } = measured;
  const method = (entry: TimedMigration, start: string): string =>
    `${start}, pages of ${PAGE_SIZE}, ${PAGES_IN_FLIGHT} in flight, ${BATCH_PROCESSES} batch ` +
    `processes, re-wrap ${entry.rewrapSeconds.toFixed(2)} s + verify ` +
    `${(entry.run.seconds - entry.rewrapSeconds).toFixed(2)} s`;
  const ratio = (entry: TimedMigration): string => (entry.run.perSecond / raw.perSecond).toFixed(2);
  const measurements: Measurement[] = [
    {
      label: 'raw PKCS#11 GCM encrypt+decrypt pairs',
      perSecond: raw.perSecond,
      operations: raw.operations,
      seconds: raw.seconds,
      method: `1 session, synchronous, main thread (same token); ${raw.describe()}`,
    },
    ...runs.map((entry) => ({
      label: `migrate ${entry.count} DEKs, ${entry.database}`,
      perSecond: entry.run.perSecond,
      operations: entry.run.operations,
      seconds: entry.run.seconds,
      method: method(entry, 'after the warm-up'),
    })),
    {
      label: `migrate ${cold.run.operations} DEKs, SQLite, cold start`,
      perSecond: cold.run.perSecond,
      operations: cold.run.operations,
      seconds: cold.run.seconds,
      method: method(cold, 'first migration of the process, new batch processes'),
    },
  ];

  const warmSmall = runs.find(
    (entry) => entry.database === 'SQLite' && entry.count === cold.run.operations,
  );
  const summary = [
    ...runs.map(
      (entry) =>
        `Ratio migration / raw, ${entry.database} ${entry.count}: ${ratio(entry)} (target ${TARGET_RATIO})`,
    ),
    ...describeGrowth(runs),
    `Cold start, SQLite ${cold.run.operations}: ratio ${ratio(cold)}` +
      (warmSmall === undefined
        ? ''
        : `, ${((cold.run.seconds - warmSmall.run.seconds) * 1000).toFixed(0)} ms more than after the warm-up`),
    ...notes,
  ];

  return {
    title: 'DEK migration: file key to HSM key',
    description: DESCRIPTION,
    measurements,
    summary,
    environment,
  };
}

function describeGrowth(runs: MigrationRun[]): string[] {
  const lines: string[] = [];
  for (const database of ['SQLite', 'PostgreSQL'] as const) {
    const [small, large] = runs.filter((entry) => entry.database === database);
    if (small === undefined || large === undefined) {
      continue;
    }
    const growth = large.run.seconds / small.run.seconds;
    const linear = large.count / small.count;
    lines.push(
      `Growth ${database}, time(${large.count}) / time(${small.count}): ${growth.toFixed(1)} (linear is ${linear})`,
    );
  }
  return lines;
}
