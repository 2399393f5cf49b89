import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { afterAll, beforeAll, describe, inject } from 'vitest';

import { openStore, type Store } from '../../src/store/index.js';
import type { TestPostgres } from './global-setup.js';
import { createDatabase, dropDatabase } from './postgres.js';

export type TestDialect = Store['dialect'];

/** What a suite run by describeEachDialect gets for its dialect. */
export interface DialectContext {
  readonly dialect: TestDialect;
  /** A temporary folder of the suite, removed after it; SQLite files are created here. */
  readonly baseDir: string;
  /** A logger that writes nothing. */
  readonly logger: Logger;
  /** Creates an empty database of the dialect and returns its URL. It is removed after the suite. */
  createDatabase(): Promise<string>;
  /**
   * Opens a store on `url`, or on a new empty database when `url` is missing. The store is closed
   * after the suite unless the test closes it first.
   */
  openStore(options?: { url?: string; migrate?: boolean }): Promise<Store>;
  /**
   * Runs one SQL statement on the database that `url` names, bypassing the store, and returns the
   * rows it produces. For checks and set-up that the store's interface does not offer.
   */
  runSql(url: string, statement: string): Promise<Record<string, unknown>[]>;
}

/**
 * Declares the suite `name` once per dialect, as "name [sqlite]" and "name [postgres]", each with
 * its own context. The PostgreSQL variant is skipped when the run has no PostgreSQL server; the
 * global setup prints the reason.
 */
export function describeEachDialect(name: string, body: (context: DialectContext) => void): void {
  const postgres = inject('postgres');

  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (dialect === 'postgres' && !postgres.available) {
      describe.skip(`${name} [postgres] (no PostgreSQL server for this run)`, () =>
        body(createContext(dialect, postgres)));
      continue;
    }

    describe(`${name} [${dialect}]`, () => {
      const context = createContext(dialect, postgres);
      beforeAll(() => context.setUp());
      afterAll(() => context.tearDown());
      body(context);
    });
  }
}

/** Returns the PostgreSQL server of the run, as the global setup provided it. */
export function testPostgres(): TestPostgres {
  return inject('postgres');
}

/** Creates a logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

interface ManagedContext extends DialectContext {
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

function createContext(dialect: TestDialect, postgres: TestPostgres): ManagedContext {
  let baseDir: string | undefined;
  const stores: Store[] = [];
  const postgresDatabases: string[] = [];
  const logger = silentLogger();

  const requireBaseDir = (): string => {
    if (baseDir === undefined) {
      throw new Error(
        'The dialect context is used outside a test: baseDir exists only from beforeAll on.',
      );
    }
    return baseDir;
  };

  const context: ManagedContext = {
    dialect,
    logger,
    get baseDir() {
      return requireBaseDir();
    },

    async setUp() {
      baseDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `strongroom-${dialect}-`));
    },

    async tearDown() {
      await Promise.all(stores.map((store) => store.close()));
      for (const url of postgresDatabases) {
        if (postgres.available) {
          await dropDatabase(postgres.url, url);
        }
      }
      if (baseDir !== undefined) {
        await fs.promises.rm(baseDir, { recursive: true, force: true });
      }
    },

    async createDatabase() {
      if (dialect === 'sqlite') {
        const file = path.join(requireBaseDir(), `${randomUUID()}.db`);
        return `sqlite:${path.relative(requireBaseDir(), file)}`;
      }
      if (!postgres.available) {
        throw new Error(`No PostgreSQL server for this run: ${postgres.reason}`);
      }
      const url = await createDatabase(postgres.url);
      postgresDatabases.push(url);
      return url;
    },

    async openStore(options = {}) {
      const url = options.url ?? (await context.createDatabase());
      const store = await openStore(url, {
        baseDir: requireBaseDir(),
        logger,
        ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
      });
      stores.push(store);
      return store;
    },

    async runSql(url, statement) {
      if (dialect === 'sqlite') {
        const file = path.resolve(requireBaseDir(), url.replace(/^sqlite:(\/\/)?/, ''));
        const database = new SqliteDatabase(file);
        try {
          const prepared = database.prepare(statement);
          if (prepared.reader) {
            return prepared.all() as Record<string, unknown>[];
          }
          prepared.run();
          return [];
        } finally {
          database.close();
        }
      }

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(statement)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    },
  };
  return context;
}
