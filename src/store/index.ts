import type { Logger } from 'pino';

import { connect, describeLocation } from './connect.js';
import { KyselyStore } from './kysely-store.js';
import { migrateToLatest, rejectNewerSchema } from './migrate.js';
import { migrations } from './migrations/index.js';
import { DEFAULT_POOL_SIZE } from './postgres.js';
import type { Store } from './repositories.js';
import { parseDatabaseUrl, redactPasswords } from './url.js';

export type * from './repositories.js';
export { maskDatabaseUrl } from './url.js';
export { isDatabaseUnavailable } from './availability.js';

export interface StoreOptions {
  /** Folder against which a relative `sqlite:` path is resolved. */
  baseDir: string;
  /** Receives opens, closes, migrations and warnings, never a query parameter or password. */
  logger: Logger;
  /**
   * Whether to run pending schema migrations while opening; true by default. When false, pending
   * migrations are not run, but a schema newer than this release is still rejected.
   */
  migrate?: boolean;
  /** Maximum number of PostgreSQL connections, 10 by default. SQLite always uses one connection. */
  poolSize?: number;
}

/**
 * Opens the database that `url` names, checks the connection with a query and migrates the schema
 * to this release. Accepted URLs are `sqlite:PATH`, `sqlite:///ABSOLUTE/PATH`, and `postgres://` or
 * `postgresql://` URLs. Throws SR_DB_URL_INVALID, SR_DB_UNREACHABLE, SR_DB_SCHEMA_NEWER or
 * SR_DB_MIGRATION_FAILED. The store masks the password of the URL in its messages and log lines.
 */
export async function openStore(url: string, options: StoreOptions): Promise<Store> {
  const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
  }

  const location = parseDatabaseUrl(url, options.baseDir);
  const logger = options.logger.child({ component: 'store' });
  const db = connect(location, { logger, poolSize });
  const store = new KyselyStore(db, location.dialect, {
    description: describeLocation(location),
    redact: (text) => redactPasswords(text, url),
    logger,
  });

  try {
    await store.ping();
    if (options.migrate === false) {
      await rejectNewerSchema(db, migrations);
    } else {
      await migrateToLatest(db, location.dialect, migrations, logger);
    }
  } catch (error) {
    await store.close();
    throw error;
  }

  const database = location.dialect === 'sqlite' ? location.file : location.maskedUrl;
  logger.info({ dialect: location.dialect, database }, 'database opened');
  return store;
}
