import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

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

  const binDir = findBinDir();
  if (binDir === undefined) {
    return {
      available: false,
      reason:
        'initdb and pg_ctl were not found under /usr/lib/postgresql/VERSION/bin or on PATH, and STRONGROOM_BENCH_POSTGRES_URL is not set',
    };
  }
  try {
    return { available: true, server: await startThrowawayCluster(binDir) };
  } catch (error) {
    return {
      available: false,
      reason: `the throwaway cluster failed to start: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** Creates an empty database with a random name and returns its URL. */
export async function createBenchDatabase(serverUrl: string): Promise<string> {
  const name = `strongroom_bench_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (client) =>
    client.query(`create database ${client.escapeIdentifier(name)}`),
  );
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the database of `databaseUrl`, from a session on the database of `serverUrl`. */
export async function dropBenchDatabase(serverUrl: string, databaseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  await withClient(serverUrl, (client) =>
    client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`),
  );
}

/** Reads `server_version` for the page. */
export async function readServerVersion(serverUrl: string): Promise<string> {
  return withClient(serverUrl, async (client) => {
    const result = await client.query<{ server_version: string }>('show server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  });
}

function findBinDir(): string | undefined {
  const folders: string[] = [];
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((left, right) => Number(right) - Number(left));
    folders.push(...versions.map((version) => join(debianRoot, version, 'bin')));
  }
  folders.push(...(process.env['PATH'] ?? '').split(delimiter).filter((folder) => folder !== ''));
  return folders.find((folder) =>
    ['initdb', 'pg_ctl'].every((name) => existsSync(join(folder, name))),
  );
}

async function startThrowawayCluster(binDir: string): Promise<BenchPostgres> {
  const root = await mkdtemp(join(tmpdir(), 'strongroom-bench-pg-'));
  const dataDir = join(root, 'data');
  const pgCtl = join(binDir, 'pg_ctl');
  const stopCluster = (): Promise<string> =>
    runAsPostgres(pgCtl, ['stop', `--pgdata=${dataDir}`, '--mode=fast', '--wait']);

  try {
    if (isRoot()) {
      const { uid, gid } = await postgresUser();
      await chown(root, uid, gid);
    }
    await runAsPostgres(join(binDir, 'initdb'), [
      `--pgdata=${dataDir}`,
      '--username=postgres',
      '--encoding=UTF8',
      '--no-locale',
      '--auth=trust',
      '--no-sync',
    ]);
    await writeFile(
      join(dataDir, 'pg_hba.conf'),
      'local all all trust\nhost all all 127.0.0.1/32 trust\n',
    );

    const port = await findFreePort();
    // Benchmark data only, so a crash may lose it: fsync and synchronous commit are off, as in
    // the test suite's clusters.
    const settings = [
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${root}'`,
      'fsync = off',
      'synchronous_commit = off',
    ];
    await appendFile(join(dataDir, 'postgresql.conf'), `\n${settings.join('\n')}\n`);

    const logFile = `${dataDir}.log`;
    try {
      await runAsPostgres(pgCtl, [
        'start',
        `--pgdata=${dataDir}`,
        `--log=${logFile}`,
        '--wait',
        '--timeout=60',
      ]);
    } catch (error) {
      const log = await readFile(logFile, 'utf8').catch(() => '(no log)');
      throw new Error(`pg_ctl start failed for ${dataDir}. Server log:\n${log}`, { cause: error });
    }

    return {
      serverUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      origin: `throwaway cluster from ${binDir}`,
      stop: async () => {
        try {
          await stopCluster();
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await stopCluster().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function runAsPostgres(program: string, args: string[]): Promise<string> {
  const [command, commandArgs] = isRoot()
    ? ['runuser', ['-u', 'postgres', '--', program, ...args]]
    : [program, args];
  try {
    const { stdout } = await execFileAsync(command, commandArgs, { cwd: '/' });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${program} failed: ${stderr.trim()}`, { cause: error });
  }
}

async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error('The port probe on 127.0.0.1 did not report a TCP port.');
  }
  return address.port;
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

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    execFileAsync('id', ['-u', 'postgres']),
    execFileAsync('id', ['-g', 'postgres']),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}
