/** Socket errors that mean the database server could not be reached or went away. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
]);

/** SQLite result codes that mean the database file cannot be used at all. */
const SQLITE_UNAVAILABLE = new Set([
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_NOTADB',
  'SQLITE_FULL',
]);

/**
 * Tells whether an error means the database is unavailable, as opposed to a query that failed.
 * Unavailable means a refused or dropped connection, a PostgreSQL SQLSTATE of class 08 (connection
 * exception) or 57P01 to 57P03 (server shutting down or starting), or an unusable SQLite file.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) {
    return false;
  }

  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_ERRORS.has(code) || SQLITE_UNAVAILABLE.has(code)) {
      return true;
    }
    if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code)) {
      return true;
    }
  }

  // node-postgres reports a connection lost mid-query with these messages and no code.
  const message = error instanceof Error ? error.message : '';
  if (/^Connection terminated|timeout exceeded when trying to connect/.test(message)) {
    return true;
  }

  return isDatabaseUnavailable((error as { cause?: unknown }).cause);
}
