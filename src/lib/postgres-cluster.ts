/** Throwaway PostgreSQL clusters for the test suite and the benchmark: test and benchmark data only. */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

const execFileAsync = promisify(execFile);

/** A running throwaway PostgreSQL server that trusts local and 127.0.0.1 connections. */
export interface PostgresServer {
  /** URL of the `postgres` database as the superuser `postgres`, over TCP on 127.0.0.1. */
  url: string;
  port: number;
  /** Folder of the unix socket; also the folder that contains the data directory and the log. */
  socketDir: string;
  dataDir: string;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
  /**
   * Stops the server at once and removes its folder, synchronously, for an exit or signal handler
   * where nothing can be awaited.
   */
  stopNow(): void;
}

/**
 * Finds the folder with initdb and pg_ctl. STRONGROOM_TEST_POSTGRES_BIN, when set, is the only
 * folder checked. Otherwise the newest /usr/lib/postgresql/VERSION/bin (Debian's layout) is tried,
 * then the folders on PATH. Returns undefined when no folder has both programs.
 */
export function findPostgresBinDir(): string | undefined {
  const configured = process.env.STRONGROOM_TEST_POSTGRES_BIN;
  const candidates =
    configured !== undefined && configured !== '' ? [configured] : defaultBinDirs();
  return candidates.find((folder) =>
    ['initdb', 'pg_ctl'].every((name) => fs.existsSync(path.join(folder, name))),
  );
}

function defaultBinDirs(): string[] {
  const folders: string[] = [];

  const debianRoot = '/usr/lib/postgresql';
  if (fs.existsSync(debianRoot)) {
    const versions = fs
      .readdirSync(debianRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    folders.push(...versions.map((version) => path.join(debianRoot, version, 'bin')));
  }

  folders.push(...(process.env.PATH ?? '').split(path.delimiter).filter((folder) => folder !== ''));
  return folders;
}

/**
 * Starts a throwaway server: initdb in a fresh temporary folder, a free port on 127.0.0.1, and the
 * unix socket in that folder. Under root the programs run as the `postgres` user, because
 * PostgreSQL refuses to run as root.
 */
export async function startPostgres(binDir: string): Promise<PostgresServer> {
  const root = await makeServerFolder();
  const dataDir = path.join(root, 'primary');

  try {
    await initCluster(binDir, dataDir);
    const port = await findFreePort();
    await configureCluster(dataDir, { port, socketDir: root });
    await startCluster(binDir, dataDir);

    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      socketDir: root,
      dataDir,
      stop: async () => {
        try {
          await stopCluster(binDir, dataDir);
        } finally {
          await fs.promises.rm(root, { recursive: true, force: true });
        }
      },
      stopNow: () => {
        try {
          const args = ['stop', `--pgdata=${dataDir}`, '--mode=immediate', '--wait'];
          runAsPostgresSync(path.join(binDir, 'pg_ctl'), args);
        } finally {
          fs.rmSync(root, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await stopCluster(binDir, dataDir).catch(() => undefined);
    await fs.promises.rm(root, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Creates an empty database with a random name on the server that `serverUrl` points at, and
 * returns its URL. The user of `serverUrl` needs the CREATEDB privilege.
 */
export async function createDatabase(serverUrl: string): Promise<string> {
  const name = `strongroom_test_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (client) =>
    client.query(`create database ${client.escapeIdentifier(name)}`),
  );

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Drops the database that `databaseUrl` names, closing the connections that still use it. The
 * statement runs on the database of `serverUrl`, since no session can drop its own database.
 */
export async function dropDatabase(serverUrl: string, databaseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  await withClient(serverUrl, (client) =>
    client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`),
  );
}

/**
 * Creates a temporary folder for one or more clusters, owned by `postgres` when running as root.
 * A standby made with pg_basebackup can live beside the primary's data directory in it.
 */
export async function makeServerFolder(): Promise<string> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'strongroom-pg-'));
  if (isRoot()) {
    const { uid, gid } = await postgresUser();
    await fs.promises.chown(root, uid, gid);
  }
  return root;
}

/** Runs initdb with a C locale, UTF-8 and the superuser `postgres`, without fsync (test data only). */
export async function initCluster(binDir: string, dataDir: string): Promise<void> {
  const args = [`--pgdata=${dataDir}`, '--username=postgres', '--encoding=UTF8', '--no-locale'];
  await runAsPostgres(path.join(binDir, 'initdb'), [...args, '--auth=trust', '--no-sync']);

  // Replaces the file that initdb wrote: trust only the unix socket and 127.0.0.1, for normal and
  // replication connections, so that a standby can be made from this cluster.
  const hba = [
    'local all all trust',
    'local replication all trust',
    'host all all 127.0.0.1/32 trust',
    'host replication all 127.0.0.1/32 trust',
    '',
  ].join('\n');
  await fs.promises.writeFile(path.join(dataDir, 'pg_hba.conf'), hba);
}

/**
 * Appends settings to postgresql.conf. A later line overrides an earlier one, so a standby copied
 * from a primary by pg_basebackup can be given its own port the same way.
 */
export async function configureCluster(
  dataDir: string,
  options: { port: number; socketDir: string },
): Promise<void> {
  const settings = {
    listen_addresses: "'127.0.0.1'",
    port: String(options.port),
    unix_socket_directories: `'${options.socketDir}'`,
    max_connections: '200',
    // Test data only: losing it in a crash of the machine is harmless.
    fsync: 'off',
    synchronous_commit: 'off',
  };
  const lines = Object.entries(settings).map(([name, value]) => `${name} = ${value}`);
  await fs.promises.appendFile(path.join(dataDir, 'postgresql.conf'), `\n${lines.join('\n')}\n`);
}

/** Starts the cluster and waits until it accepts connections. The log goes beside the data directory. */
export async function startCluster(binDir: string, dataDir: string): Promise<void> {
  const logFile = `${dataDir}.log`;
  try {
    const args = ['start', `--pgdata=${dataDir}`, `--log=${logFile}`, '--wait', '--timeout=60'];
    await runAsPostgres(path.join(binDir, 'pg_ctl'), args);
  } catch (error) {
    const log = await fs.promises.readFile(logFile, 'utf8').catch(() => '(no log)');
    throw new Error(`pg_ctl start failed for ${dataDir}. Server log:\n${log}`, { cause: error });
  }
}

/** Stops the cluster with the fast mode, which ends open connections. */
export async function stopCluster(binDir: string, dataDir: string): Promise<void> {
  const args = ['stop', `--pgdata=${dataDir}`, '--mode=fast', '--wait'];
  await runAsPostgres(path.join(binDir, 'pg_ctl'), args);
}

/**
 * Runs a PostgreSQL program, as the `postgres` user when this process is root. The working folder
 * is `/`, because the `postgres` user may have no access to the current one.
 */
export async function runAsPostgres(program: string, args: string[]): Promise<string> {
  const [command, commandArgs] = isRoot()
    ? ['runuser', ['-u', 'postgres', '--', program, ...args]]
    : [program, args];

  try {
    const { stdout } = await execFileAsync(command, commandArgs, { cwd: '/' });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${path.basename(program)} failed: ${stderr.trim()}`, { cause: error });
  }
}

function runAsPostgresSync(program: string, args: string[]): void {
  const [command, commandArgs] = isRoot()
    ? ['runuser', ['-u', 'postgres', '--', program, ...args]]
    : [program, args];
  execFileSync(command, commandArgs, { cwd: '/', stdio: 'ignore' });
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function findFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });

  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error('The test server did not report a TCP port.');
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
