import { Kysely } from 'kysely';
import type { Logger } from 'pino';

import { describePostgresServer, openPostgresDialect } from './postgres.js';
import type { Database } from './schema.js';
import { openSqliteDialect } from './sqlite.js';
import type { DatabaseLocation } from './url.js';

/**
 * Creates a Kysely instance for a parsed location. SQLite opens its file at once; PostgreSQL
 * connects on the first query.
 */
export function connect(
  location: DatabaseLocation,
  options: { logger: Logger; poolSize: number },
): Kysely<Database> {
  const dialect =
    location.dialect === 'sqlite'
      ? openSqliteDialect(location.file, options.logger)
      : openPostgresDialect(location, options.poolSize, options.logger);
  return new Kysely<Database>({ dialect });
}

/** Names the database of a location for messages: the file, or server and database name. */
export function describeLocation(location: DatabaseLocation): string {
  return location.dialect === 'sqlite'
    ? `the SQLite database ${location.file}`
    : describePostgresServer(location);
}
