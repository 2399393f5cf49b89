import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger, testPostgres } from '../support/databases.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

// The lock connection is PostgreSQL's alone: SQLite's lock is a row, with no session to drop.
const postgres = testPostgres();

describe.runIf(postgres.available)('dropped lock connection on PostgreSQL', () => {
  let url: string | undefined;
  let store: Store | undefined;

  afterAll(async () => {
    await store?.close();
    if (url !== undefined && postgres.available) {
      await dropDatabase(postgres.url, url);
    }
  });

  it('is survived by the process', async () => {
    if (!postgres.available) {
      return;
    }
    url = await createDatabase(postgres.url);
    store = await openStore(url, { baseDir: '/', logger: silentLogger() });
    const holder = { host: 'test-host', pid: process.pid, startedAt: new Date().toISOString() };

    const attempt = await store.dekMigrations.tryLock(holder);
    expect(attempt.acquired).toBe(true);

    // Ends every other session on the database, among them the one that holds the lock.
    const pg = (await import('pg')).default;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const database = new URL(url).pathname.slice(1);
    const { rowCount } = await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [database],
    );
    await admin.end();
    expect(rowCount).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 200));

    // The process is still here, the lock went with its connection, and the store still works.
    if (attempt.acquired) {
      await expect(attempt.release()).rejects.toThrow();
    }
    await store.ping();
    const again = await store.dekMigrations.tryLock({
      ...holder,
      startedAt: new Date().toISOString(),
    });
    expect(again.acquired).toBe(true);
    if (again.acquired) {
      await again.release();
    }
  });
});
