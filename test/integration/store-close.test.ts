import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { silentLogger, testPostgres } from '../support/databases.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const postgres = testPostgres();

/** Counts the TCP sockets of this process that have not closed yet. */
function openTcpSockets(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'TCPSocketWrap').length;
}

/** Counts the server sessions on the database of `url`, from a session on the server's own database. */
async function sessionsOn(serverUrl: string, url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ sessions: number }>(
      'select count(*)::int as sessions from pg_stat_activity where datname = $1',
      [new URL(url).pathname.slice(1)],
    );
    return rows[0]?.sessions ?? -1;
  } finally {
    await admin.end();
  }
}

describe.runIf(postgres.available)('closing a PostgreSQL store', () => {
  it('returns after its connections have closed', async () => {
    if (!postgres.available) {
      return;
    }
    const url = await createDatabase(postgres.url);
    try {
      const socketsBefore = openTcpSockets();
      const store = await openStore(url, { baseDir: '/', logger: silentLogger() });
      // Pings in parallel open several connections, so that the pool has more than one to end.
      await Promise.all(Array.from({ length: 4 }, () => store.ping()));
      expect(openTcpSockets()).toBeGreaterThan(socketsBefore + 1);

      await store.close();
      // A socket still closing would let a server that drops the database report a failed
      // connection after the close.
      expect(openTcpSockets()).toBe(socketsBefore);
      expect(await sessionsOn(postgres.url, url)).toBe(0);
    } finally {
      await dropDatabase(postgres.url, url);
    }
  });
});
