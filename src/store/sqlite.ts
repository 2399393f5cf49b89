import fs from 'node:fs';
import path from 'node:path';

import SqliteDatabase from 'better-sqlite3';
import { SqliteDialect } from 'kysely';
import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import { describeCause } from './causes.js';
import { cachingStatements } from './sqlite-statements.js';

/**
 * How long a statement waits for another process's write lock before it fails with SQLITE_BUSY.
 * NOTE: better-sqlite3 waits synchronously, so the event loop stalls for that long at worst.
 */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens a SQLite database file for Kysely, creating it with mode 0600 when it does not exist.
 * The connection uses the WAL journal, so readers do not block the writer, a busy timeout,
 * enforced foreign keys, which SQLite leaves off by default, and a cache of prepared statements. Throws SR_DB_UNREACHABLE when the file
 * cannot be opened as a database.
 */
export function openSqliteDialect(file: string, logger: Logger): SqliteDialect {
  const folder = path.dirname(file);
  if (!fs.existsSync(folder)) {
    throw unreachable(
      file,
      `the folder ${folder} does not exist. Create it or change the database URL`,
    );
  }

  createPrivateFile(file, logger);

  let database: SqliteDatabase.Database | undefined;
  try {
    database = new SqliteDatabase(file, { timeout: BUSY_TIMEOUT_MS });
    // SQLite creates the -wal and -shm files with the permissions of the database file.
    const journalMode = database.pragma('journal_mode = WAL', { simple: true });
    if (journalMode !== 'wal') {
      logger.warn({ file, journalMode }, 'SQLite did not switch to the WAL journal');
    }
    database.pragma('foreign_keys = ON');
  } catch (error) {
    database?.close();
    throw unreachable(file, describeCause(error), error);
  }

  return new SqliteDialect({ database: cachingStatements(database) });
}

/** Creates an empty file readable only by its owner, unless the file exists. */
function createPrivateFile(file: string, logger: Logger): void {
  try {
    fs.closeSync(
      fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600),
    );
    logger.info({ file }, 'SQLite database file created');
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw unreachable(file, describeCause(error), error);
    }
  }

  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    logger.warn(
      { file, mode: mode.toString(8) },
      'SQLite database file can be read or written by other users; run chmod 600 on it',
    );
  }
}

function unreachable(file: string, reason: string, cause?: unknown): StrongroomError {
  return new StrongroomError(
    'SR_DB_UNREACHABLE',
    `Cannot open the SQLite database ${file}: ${reason}.`,
    {
      cause,
      details: { file },
    },
  );
}
