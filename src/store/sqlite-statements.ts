import type SqliteDatabase from 'better-sqlite3';
import type { SqliteDatabase as KyselySqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Prepared statements kept per connection. Kysely prepares every query afresh, and preparing a
 * large statement, such as the UPDATE of a page of 500 DEKs, costs more CPU time than running it.
 * The limit keeps the memory of statements built for one-off queries bounded.
 */
const MAX_CACHED_STATEMENTS = 200;

/**
 * Returns the database as Kysely's SqliteDialect uses it, with prepare() served from a cache of
 * statements by SQL text. A statement is reused only once the previous use finished: a statement
 * that is still being iterated is prepared afresh, because better-sqlite3 rejects a second use of
 * a busy statement.
 */
export function cachingStatements(database: SqliteDatabase.Database): KyselySqliteDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => {
      cache.clear();
      database.close();
    },
    prepare: (sql: string): SqliteStatement => {
      const cached = cache.get(sql);
      if (cached !== undefined && !cached.busy) {
        // Reinserting keeps the map in order of last use, so the oldest entry is evicted first.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = database.prepare(sql);
      if (cached === undefined) {
        cache.set(sql, statement);
        evictOldest(cache);
      }
      return statement;
    },
  };
}

function evictOldest(cache: Map<string, unknown>): void {
  if (cache.size <= MAX_CACHED_STATEMENTS) {
    return;
  }
  const oldest = cache.keys().next();
  if (oldest.done !== true) {
    cache.delete(oldest.value);
  }
}
