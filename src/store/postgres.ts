import { PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';

import { describeCause } from './causes.js';
import { redactPasswords, type PostgresLocation } from './url.js';

/** Connections a store opens at most, unless the caller sets another pool size. */
export const DEFAULT_POOL_SIZE = 10;

/** How long opening one connection may take before it fails, in milliseconds. */
const CONNECT_TIMEOUT_MS = 10_000;

/** How long closing a store waits for its connections to close, in milliseconds. */
const CLOSE_WAIT_MS = 2_000;

/** Creates a bounded pg pool for the location and a Kysely dialect on it. */
export function openPostgresDialect(
  location: PostgresLocation,
  poolSize: number,
  logger: Logger,
): PostgresDialect {
  const pool = new pg.Pool({
    connectionString: location.connectionString,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'strongroom',
    types: { getTypeParser: getTypeParser as typeof pg.types.getTypeParser },
  });

  // The server may close an idle connection (restart, failover, a firewall's idle timeout). The
  // pool then emits 'error', which would end the process if nothing listened. The pool drops that
  // connection and opens a new one on the next query.
  pool.on('error', (error) => {
    logger.warn(
      {
        host: location.host,
        port: location.port,
        database: location.database,
        error: redactPasswords(describeCause(error), location.connectionString),
      },
      'idle PostgreSQL connection failed',
    );
  });

  // A connection that is checked out (a transaction, or the migration lock's session) gets no
  // pool listener, so its 'error' event would end the process. This listener only logs it: the
  // query in flight still fails with the error, and its caller decides what to do.
  const open = new Set<pg.PoolClient>();
  pool.on('connect', (client) => {
    open.add(client);
    client.once('end', () => open.delete(client));
    client.on('error', (error) => {
      logger.warn(
        {
          host: location.host,
          port: location.port,
          database: location.database,
          error: redactPasswords(describeCause(error), location.connectionString),
        },
        'PostgreSQL connection failed',
      );
    });
  });

  return new PostgresDialect({
    pool: {
      connect: () => pool.connect(),
      end: () => endPool(pool, open),
    },
  });
}

/**
 * Ends the pool and waits until each of its connections has closed, for at most
 * CLOSE_WAIT_MS. pg's Pool.end() returns once it has asked the connections to end. A server that
 * ended them meanwhile, for example by dropping the database, would still make them report a
 * failed connection after the store was closed. The bound keeps an unresponsive server from
 * holding up the close.
 */
async function endPool(pool: pg.Pool, open: Set<pg.PoolClient>): Promise<void> {
  await pool.end();
  if (open.size === 0) {
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_WAIT_MS);
    timer.unref();
  });
  const closed = Promise.all(
    [...open].map((client) => new Promise<void>((resolve) => client.once('end', resolve))),
  );
  await Promise.race([closed, bound]);
  clearTimeout(timer);
}

/**
 * Parses bigint (int8) values, such as the audit sequence and count(*), as numbers, as SQLite's
 * integers are and as the schema types declare, where pg would return strings. A value beyond
 * Number.MAX_SAFE_INTEGER fails its query with a RangeError instead of losing precision.
 */
function getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
  if (oid === pg.types.builtins.INT8 && format !== 'binary') {
    return parseBigint;
  }
  return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
}

function parseBigint(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `bigint value ${text} is beyond the safe integer range of a JavaScript number`,
    );
  }
  return value;
}

/** Names the server and database of a location for messages, without user or password. */
export function describePostgresServer(location: PostgresLocation): string {
  const server = location.host.startsWith('/')
    ? `the socket in ${location.host} (port ${location.port})`
    : `${location.host}:${location.port}`;
  return `PostgreSQL at ${server}, database '${location.database}'`;
}
