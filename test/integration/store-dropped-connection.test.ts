import { expect, it } from 'vitest';
import { describeEachDialect } from '../support/databases.js';

describeEachDialect('dropped lock connection', (context) => {
  it.runIf(context.dialect === 'postgres')('is survived by the process', async () => {
    const url = await context.createDatabase();
    const store = await context.openStore({ url });
    const holder = { host: 'test-host', pid: process.pid, startedAt: new Date().toISOString() };

    const attempt = await store.dekMigrations.tryLock(holder);
    expect(attempt.acquired).toBe(true);

    // Ends every other session on the database, among them the one that holds the lock.
    const database = new URL(url).pathname.slice(1);
    const ended = await context.runSql(
      url,
      `select pg_terminate_backend(pid) as ended from pg_stat_activity where datname = '${database}' and pid <> pg_backend_pid()`,
    );
    expect(ended.length).toBeGreaterThan(0);
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
