import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import SqliteDatabase from 'better-sqlite3';
import pino, { type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { maskDatabaseUrl, openStore } from '../../src/store/index.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import { describeEachDialect, silentLogger, testPostgres } from '../support/databases.js';
import { createDatabase, dropDatabase, findFreePort } from '../support/postgres.js';

const BASE_DIR = '/srv/strongroom';
const require = createRequire(import.meta.url);

describe('database URL parsing', () => {
  it.each([
    ['sqlite:vault.db', '/srv/strongroom/vault.db'],
    ['sqlite:data/vault.db', '/srv/strongroom/data/vault.db'],
    ['sqlite:../shared/vault.db', '/srv/shared/vault.db'],
    ['sqlite:/var/lib/strongroom/vault.db', '/var/lib/strongroom/vault.db'],
    ['sqlite:///var/lib/strongroom/vault.db', '/var/lib/strongroom/vault.db'],
    ['SQLite:vault.db', '/srv/strongroom/vault.db'],
  ])('sqlite URL %s names %s', (url, file) => {
    expect(parseDatabaseUrl(url, BASE_DIR)).toEqual({ dialect: 'sqlite', file });
  });

  it.each([
    ['postgres://pam:secret@db1.example:6543/vault', 'db1.example', 6543, 'vault'],
    ['postgresql://pam@db1.example/vault', 'db1.example', 5432, 'vault'],
    ['postgres://127.0.0.1/my%20vault', '127.0.0.1', 5432, 'my vault'],
    ['postgres://[::1]:5433/vault', '::1', 5433, 'vault'],
    ['postgres:///vault?host=/run/postgresql', '/run/postgresql', 5432, 'vault'],
    [
      'postgres://pam:secret@/vault?host=/run/postgresql&port=5433',
      '/run/postgresql',
      5433,
      'vault',
    ],
    ['postgres://%2Frun%2Fpostgresql/vault', '/run/postgresql', 5432, 'vault'],
    ['postgres:///vault', 'localhost', 5432, 'vault'],
  ])('postgres URL %s names %s port %d database %s', (url, host, port, database) => {
    const location = parseDatabaseUrl(url, BASE_DIR);

    expect(location).toMatchObject({
      dialect: 'postgres',
      host,
      port,
      database,
      connectionString: url,
    });
  });

  it.each([
    ['', 'it has no scheme'],
    ['vault.db', 'it has no scheme'],
    ['mysql://root:hunter2@127.0.0.1/vault', "the scheme 'mysql:' is not supported"],
    ['http://127.0.0.1/vault', "the scheme 'http:' is not supported"],
    ['sqlite:', 'it names no database file'],
    ['sqlite:data/', 'it names no database file'],
    ['sqlite:///', 'it names no database file'],
    ['sqlite://fileserver/vault.db', 'a sqlite URL cannot name a host'],
    ['sqlite:vault.db?mode=ro', 'a sqlite URL cannot have a query string or fragment'],
    ['postgres:vault', "a PostgreSQL URL starts with 'postgres://'"],
    ['postgres://127.0.0.1', 'it names no database'],
    ['postgres://127.0.0.1/', 'it names no database'],
    ['postgres://127.0.0.1/vault/extra', "the database name 'vault/extra' contains '/'"],
    ['postgres://127.0.0.1/%ZZ', 'the database name is not valid percent-encoding'],
    ['postgres://127.0.0.1/vault#main', 'a PostgreSQL URL cannot have a fragment'],
    ['postgres://127.0.0.1:0/vault', "the port '0' is not a number from 1 to 65535"],
    ['postgres://127.0.0.1/vault?port=5432x', "the port '5432x' is not a number from 1 to 65535"],
    ['postgres://pam:hunter2@127.0.0.1:99999/vault', 'it is not a valid URL'],
    ['postgres://pam:hunter2@127.0.0.1 /vault', 'it is not a valid URL'],
  ])('invalid URL %j is rejected', async (url, reason) => {
    const error = await openStore(url, { baseDir: BASE_DIR, logger: silentLogger() }).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_DB_URL_INVALID')).toBe(true);
    const message = (error as StrongroomError).message;
    expect(message).toContain(`Invalid database URL '${maskDatabaseUrl(url)}': ${reason}`);
    expect(message).toContain(
      'Use sqlite:PATH (a relative path is resolved against /srv/strongroom)',
    );
    expect(message).toContain('postgres://USER:PASSWORD@HOST:PORT/DATABASE');
    expect(message).not.toContain('hunter2');
  });
});

describe('database URL masking', () => {
  it.each([
    ['postgres://pam:hunter2@127.0.0.1/vault', 'postgres://pam:***@127.0.0.1/vault'],
    ['postgres://pam:hunt%40er2@127.0.0.1/vault', 'postgres://pam:***@127.0.0.1/vault'],
    ['postgres://pam:hunt@er2@127.0.0.1/vault', 'postgres://pam:***@127.0.0.1/vault'],
    ['postgres://pam:hunter2@127.0.0.1:99999/vault', 'postgres://pam:***@127.0.0.1:99999/vault'],
    ['postgres://pam@127.0.0.1:5432/vault', 'postgres://pam@127.0.0.1:5432/vault'],
    ['postgres://127.0.0.1:5432/vault', 'postgres://127.0.0.1:5432/vault'],
    ['postgres://pam:@127.0.0.1/vault', 'postgres://pam:***@127.0.0.1/vault'],
    [
      'postgres://127.0.0.1/vault?user=pam&password=hunter2&sslpassword=keypass',
      'postgres://127.0.0.1/vault?user=pam&password=***&sslpassword=***',
    ],
    ['sqlite:data/vault.db', 'sqlite:data/vault.db'],
  ])('%s is masked as %s', (url, masked) => {
    expect(maskDatabaseUrl(url)).toBe(masked);
  });
});

describe('unreachable PostgreSQL', () => {
  it('names host, port and database, not the password', async () => {
    const port = await findFreePort();
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const url = `postgres://strongroom:Tr0ub4dor-and-3@127.0.0.1:${port}/vault`;

    const error = await openStore(url, { baseDir: BASE_DIR, logger }).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_DB_UNREACHABLE')).toBe(true);
    const { message, details } = error as StrongroomError;
    expect(message).toContain(`Cannot reach PostgreSQL at 127.0.0.1:${port}, database 'vault': `);
    expect(message).toContain('ECONNREFUSED');
    expect(message).not.toContain('Tr0ub4dor');
    expect(JSON.stringify(details)).not.toContain('Tr0ub4dor');
    expect(lines.join('')).not.toContain('Tr0ub4dor');
  });
});

describe('SQLite files', () => {
  let baseDir: string;

  beforeAll(async () => {
    baseDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'strongroom-sqlite-open-'));
  });

  afterAll(async () => {
    await fs.promises.rm(baseDir, { recursive: true, force: true });
  });

  it('new file is private and in WAL mode', async () => {
    const store = await openStore('sqlite:private.db', { baseDir, logger: silentLogger() });
    await store.audit.appendEvent(auditEvent());

    const file = path.join(baseDir, 'private.db');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    await store.close();
    const database = new SqliteDatabase(file, { readonly: true });
    expect(database.pragma('journal_mode', { simple: true })).toBe('wal');
    database.close();
  });

  it('relative path resolves against baseDir', async () => {
    fs.mkdirSync(path.join(baseDir, 'data'));

    const store = await openStore('sqlite:data/vault.db', { baseDir, logger: silentLogger() });
    await store.close();

    expect(fs.existsSync(path.join(baseDir, 'data', 'vault.db'))).toBe(true);
  });

  it('absolute sqlite URL ignores baseDir', async () => {
    const file = path.join(baseDir, 'absolute.db');

    const store = await openStore(`sqlite://${file}`, {
      baseDir: '/nonexistent',
      logger: silentLogger(),
    });
    await store.close();

    expect(fs.existsSync(file)).toBe(true);
  });

  it('missing folder is unreachable', async () => {
    const error = await openStore('sqlite:missing/vault.db', {
      baseDir,
      logger: silentLogger(),
    }).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_DB_UNREACHABLE')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      `Cannot open the SQLite database ${baseDir}/missing/vault.db: the folder ${baseDir}/missing does not ` +
        'exist. Create it or change the database URL.',
    );
  });

  it('file that is not a database is unreachable', async () => {
    fs.writeFileSync(path.join(baseDir, 'notes.txt'), 'x'.repeat(4096), { mode: 0o600 });

    const error = await openStore('sqlite:notes.txt', { baseDir, logger: silentLogger() }).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_DB_UNREACHABLE')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      `Cannot open the SQLite database ${baseDir}/notes.txt: file is not a database.`,
    );
  });

  it('readable file is opened with a warning', async () => {
    fs.writeFileSync(path.join(baseDir, 'shared.db'), '', { mode: 0o644 });
    fs.chmodSync(path.join(baseDir, 'shared.db'), 0o644);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });

    const store = await openStore('sqlite:shared.db', { baseDir, logger });
    await store.close();

    const warning = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.level === 40);
    expect(warning).toMatchObject({
      msg: 'SQLite database file can be read or written by other users; run chmod 600 on it',
      mode: '644',
    });
  });

  it('writer waits for another connection', async () => {
    const store = await openStore('sqlite:busy.db', { baseDir, logger: silentLogger() });
    // better-sqlite3 waits for a lock synchronously, so the lock is held by another thread.
    const holder = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const database = new Database(workerData.file);
      database.exec('begin immediate');
      parentPort.postMessage('locked');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      database.exec('commit');
      database.close();
      `,
      {
        eval: true,
        workerData: {
          file: path.join(baseDir, 'busy.db'),
          driver: require.resolve('better-sqlite3'),
        },
      },
    );
    await new Promise((resolve) => holder.once('message', resolve));

    const seq = await store.audit.appendEvent(auditEvent());

    expect(seq).toBe(1);
    await new Promise((resolve) => holder.once('exit', resolve));
    await store.close();
  });
});

describeEachDialect('store open', (context) => {
  it('ping succeeds on an open store', async () => {
    const store = await context.openStore();

    await expect(store.ping()).resolves.toBeUndefined();
    expect(store.dialect).toBe(context.dialect);
  });

  it('ping after close is unreachable', async () => {
    const store = await context.openStore();
    await store.close();

    const error = await store.ping().catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_DB_UNREACHABLE')).toBe(true);
    expect((error as StrongroomError).message).toMatch(
      /^Cannot reach (the SQLite database|PostgreSQL at) /,
    );
  });

  it('close twice is harmless', async () => {
    const store = await context.openStore();

    await store.close();

    await expect(store.close()).resolves.toBeUndefined();
  });

  it('open log names the database, not the password', async () => {
    const lines: string[] = [];
    const logger: Logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const url = withPassword(await context.createDatabase(), 'Sw0rdfish-9');

    const store = await openStore(url, { baseDir: context.baseDir, logger });
    await store.close();

    const opened = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === 'database opened');
    expect(opened).toMatchObject({ dialect: context.dialect, component: 'store' });
    expect(lines.join('')).not.toContain('Sw0rdfish-9');
  });
});

describe('PostgreSQL over a unix socket', () => {
  const postgres = testPostgres();
  const socketDir = postgres.available ? postgres.socketDir : null;

  it.skipIf(socketDir === null)('host parameter opens the socket', async () => {
    if (!postgres.available || socketDir === null) {
      return;
    }
    const databaseUrl = await createDatabase(postgres.url);
    const { pathname, port } = new URL(databaseUrl);

    try {
      const store = await openStore(
        `postgres://postgres@${pathname}?host=${socketDir}&port=${port}`,
        {
          baseDir: BASE_DIR,
          logger: silentLogger(),
        },
      );
      await expect(store.ping()).resolves.toBeUndefined();
      await store.close();
    } finally {
      await dropDatabase(postgres.url, databaseUrl);
    }
  });
});

/** Adds a password to a PostgreSQL URL; the test server trusts local connections and ignores it. */
function withPassword(url: string, password: string): string {
  if (!url.startsWith('postgres')) {
    return url;
  }
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

function auditEvent() {
  return {
    occurredAt: '2026-03-01T12:00:00.000Z',
    actor: 'admin',
    action: 'store.test',
    objectType: 'store',
    objectId: 'none',
    outcome: 'success' as const,
    reason: '',
    clientAddress: '127.0.0.1',
    details: {},
  };
}
