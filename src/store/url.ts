import path from 'node:path';

import { StrongroomError } from '../errors.js';

/** Location that a database URL names: a SQLite file, or a PostgreSQL server and database. */
export type DatabaseLocation = SqliteLocation | PostgresLocation;

export interface SqliteLocation {
  dialect: 'sqlite';
  /** Absolute path of the database file. */
  file: string;
}

export interface PostgresLocation {
  dialect: 'postgres';
  /** The URL as given, which the pg client parses itself. */
  connectionString: string;
  /** Host name, IP address, or the folder of a unix socket. */
  host: string;
  port: number;
  database: string;
  /** The URL with its password replaced by `***`, for logs and messages. */
  maskedUrl: string;
}

const DEFAULT_POSTGRES_PORT = 5432;

/**
 * Parses a database URL. Accepted forms are `sqlite:PATH` (a relative PATH is resolved against
 * `baseDir`), `sqlite:///ABSOLUTE/PATH`, and `postgres://` or `postgresql://` URLs that name a
 * database, with a unix socket folder as `host=` in the query string if needed. Throws
 * SR_DB_URL_INVALID for anything else, with the password masked in the message.
 */
export function parseDatabaseUrl(url: string, baseDir: string): DatabaseLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();

  if (scheme === 'sqlite') {
    return parseSqliteUrl(url, baseDir);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    return parsePostgresUrl(url, baseDir);
  }

  const reason =
    scheme === undefined ? 'it has no scheme' : `the scheme '${scheme}:' is not supported`;
  throw invalidUrl(url, baseDir, reason);
}

/**
 * Replaces the password in a database URL with `***`, both in the user information and in
 * `password=` or `sslpassword=` query parameters. It also works on strings that are not valid URLs,
 * so that an error about a malformed URL cannot print its password.
 */
export function maskDatabaseUrl(url: string): string {
  const span = findUserInfoPassword(url);
  const masked = span === undefined ? url : `${url.slice(0, span.start)}***${url.slice(span.end)}`;
  return masked.replace(QUERY_PASSWORD, '$1***');
}

/**
 * Replaces every password that a database URL contains, in the user information or in a query
 * parameter, with `***` wherever it appears in `text`, both as written in the URL and
 * percent-decoded.
 */
export function redactPasswords(text: string, url: string): string {
  const passwords: string[] = [];

  const span = findUserInfoPassword(url);
  if (span !== undefined) {
    passwords.push(url.slice(span.start, span.end));
  }
  for (const match of url.matchAll(QUERY_PASSWORD)) {
    passwords.push(match[2] ?? '');
  }

  let redacted = text;
  for (const password of passwords) {
    for (const form of [password, decode(password)]) {
      if (form !== undefined && form !== '') {
        redacted = redacted.split(form).join('***');
      }
    }
  }
  return redacted;
}

const QUERY_PASSWORD = /([?&](?:ssl)?password=)([^&#]*)/gi;

/**
 * Finds the password in the user information of a URL, which need not be valid. The user
 * information ends at the last '@' before the query string, so a password with an unencoded '@'
 * is still found whole. An '@' in the path makes the span longer than the password, which masks
 * more than needed but never less.
 */
function findUserInfoPassword(url: string): { start: number; end: number } | undefined {
  const schemeEnd = url.indexOf('://');
  if (schemeEnd < 0) {
    return undefined;
  }

  const authorityStart = schemeEnd + 3;
  const queryStart = url.search(/[?#]/);
  const head = queryStart >= 0 ? url.slice(0, queryStart) : url;
  const at = head.lastIndexOf('@');
  const colon = head.indexOf(':', authorityStart);
  if (at <= authorityStart || colon < 0 || colon > at) {
    return undefined;
  }
  return { start: colon + 1, end: at };
}

function parseSqliteUrl(url: string, baseDir: string): SqliteLocation {
  const rest = url.slice('sqlite:'.length);

  if (rest.startsWith('//') && !rest.startsWith('///')) {
    throw invalidUrl(
      url,
      baseDir,
      'a sqlite URL cannot name a host; use three slashes for an absolute path',
    );
  }
  // '?' and '#' would start SQLite URI parameters elsewhere; here they would silently become part
  // of the file name, so they are rejected. Strongroom sets the SQLite options itself.
  if (/[?#]/.test(rest)) {
    throw invalidUrl(url, baseDir, 'a sqlite URL cannot have a query string or fragment');
  }

  const filePath = rest.startsWith('//') ? rest.slice(2) : rest;
  if (filePath === '' || filePath.endsWith('/')) {
    throw invalidUrl(url, baseDir, 'it names no database file');
  }

  return { dialect: 'sqlite', file: path.resolve(baseDir, filePath) };
}

function parsePostgresUrl(url: string, baseDir: string): PostgresLocation {
  const schemeLength = url.indexOf(':') + 1;
  if (url.slice(schemeLength, schemeLength + 2) !== '//') {
    throw invalidUrl(
      url,
      baseDir,
      `a PostgreSQL URL starts with '${url.slice(0, schemeLength)}//'`,
    );
  }

  const { parsed, hostname } = parseWhatwgUrl(url) ?? {};
  if (parsed === undefined || hostname === undefined) {
    throw invalidUrl(url, baseDir, 'it is not a valid URL');
  }
  if (parsed.hash !== '') {
    throw invalidUrl(url, baseDir, 'a PostgreSQL URL cannot have a fragment');
  }

  const database = decode(parsed.pathname.slice(1));
  if (database === undefined) {
    throw invalidUrl(url, baseDir, 'the database name is not valid percent-encoding');
  }
  if (database === '') {
    throw invalidUrl(url, baseDir, 'it names no database; add /DATABASE after the host');
  }
  if (database.includes('/')) {
    throw invalidUrl(url, baseDir, `the database name '${database}' contains '/'`);
  }

  const host = parsed.searchParams.get('host') ?? decode(hostname);
  if (host === undefined) {
    throw invalidUrl(url, baseDir, 'the host is not valid percent-encoding');
  }

  const portText = parsed.searchParams.get('port') ?? parsed.port;
  const port = portText === '' ? DEFAULT_POSTGRES_PORT : Number(portText);
  if (!/^\d*$/.test(portText) || port < 1 || port > 65535) {
    throw invalidUrl(url, baseDir, `the port '${portText}' is not a number from 1 to 65535`);
  }

  return {
    dialect: 'postgres',
    connectionString: url,
    host: host === '' ? 'localhost' : host.replace(/^\[(.*)\]$/, '$1'),
    port,
    database,
    maskedUrl: maskDatabaseUrl(url),
  };
}

/**
 * Parses with the WHATWG URL parser and returns the URL with its host name, still percent-encoded.
 * That parser rejects credentials without a host, as in `postgres://user:pw@/db?host=/run/postgresql`,
 * which libpq and pg accept, so such a URL is parsed with a placeholder host and an empty host name
 * is returned.
 */
function parseWhatwgUrl(url: string): { parsed: URL; hostname: string } | undefined {
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    return { parsed, hostname: parsed.hostname };
  }

  const withPlaceholder = url.replace(
    /^([a-z]+:\/\/[^/?#]*@)(?=[/?#]|$)/i,
    '$1placeholder.invalid',
  );
  if (withPlaceholder === url || !URL.canParse(withPlaceholder)) {
    return undefined;
  }

  return { parsed: new URL(withPlaceholder), hostname: '' };
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function invalidUrl(url: string, baseDir: string, reason: string): StrongroomError {
  const masked = maskDatabaseUrl(url);
  return new StrongroomError(
    'SR_DB_URL_INVALID',
    `Invalid database URL '${masked}': ${reason}. Use sqlite:PATH (a relative path is resolved ` +
      `against ${baseDir}), sqlite:///ABSOLUTE/PATH, postgres://USER:PASSWORD@HOST:PORT/DATABASE, ` +
      `or postgres:///DATABASE?host=/SOCKET/FOLDER.`,
    { details: { url: masked } },
  );
}
