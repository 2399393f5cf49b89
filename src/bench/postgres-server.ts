import pg from 'pg';
import {
  createDatabase,
  dropDatabase,
  findPostgresBinDir,
  startPostgres,
} from '../lib/postgres-cluster.js';

/** A PostgreSQL server for the benchmark: one given by URL, or a throwaway cluster. */
export interface BenchPostgres {
  /** URL of a database on the server whose user may create databases. */
  serverUrl: string;
  /** Origin of the server for the page: the environment variable or the folder of the programs. */
  origin: string;
  /** Stops and removes a throwaway cluster. Does nothing for a server given by URL. */
  stop(): Promise<void>;
}

/** The server to measure on, or the reason PostgreSQL was not measured. */
export type PostgresAvailability =
  { available: true; server: BenchPostgres } | { available: false; reason: string };

/**
 * Uses the server in STRONGROOM_BENCH_POSTGRES_URL when set. Otherwise it starts a throwaway
 * cluster from initdb and pg_ctl (found under /usr/lib/postgresql/VERSION/bin or on PATH) in a
 * temporary folder, on a free port of 127.0.0.1, without fsync. Under root the programs run as the
 * `postgres` user through runuser, because PostgreSQL does not run as root.
 */
export async function findBenchPostgres(): Promise<PostgresAvailability> {
  const configured = process.env['STRONGROOM_BENCH_POSTGRES_URL'];
  if (configured !== undefined && configured !== '') {
    return {
      available: true,
      server: {
        serverUrl: configured,
        origin: 'STRONGROOM_BENCH_POSTGRES_URL',
        stop: async () => undefined,
      },
    };
  }

  const binDir = findPostgresBinDir();
  if (binDir === undefined) {
    return {
      available: false,
      reason:
        'initdb and pg_ctl were not found under /usr/lib/postgresql/VERSION/bin or on PATH, and STRONGROOM_BENCH_POSTGRES_URL is not set',
    };
  }
  try {
    const cluster = await startPostgres(binDir);
    return {
      available: true,
      server: {
        serverUrl: cluster.url,
        origin: `throwaway cluster from ${binDir}`,
        stop: cluster.stop,
      },
    };
  } catch (error) {
    return {
      available: false,
      reason: `the throwaway cluster failed to start: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** Creates an empty database with a random name and returns its URL. */
export const createBenchDatabase = createDatabase;

/** Drops the database of `databaseUrl`, from a session on the database of `serverUrl`. */
export const dropBenchDatabase = dropDatabase;

/** Reads `server_version` for the page. */
export async function readServerVersion(serverUrl: string): Promise<string> {
  return withClient(serverUrl, async (client) => {
    const result = await client.query<{ server_version: string }>('show server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  });
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
