import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { StrongroomError } from '../errors.js';

/** Access rule of GET /metrics. The token is kept only as its SHA-256 digest. */
export type MetricsAccess =
  { kind: 'loopback' } | { kind: 'token'; tokenDigest: Buffer } | { kind: 'off' };

/** Reads the metrics access settings, and for `token` the bearer token from its file. */
export async function loadMetricsAccess(settings: {
  access: 'loopback' | 'token' | 'off';
  tokenFile: string | undefined;
}): Promise<MetricsAccess> {
  if (settings.access !== 'token') {
    return { kind: settings.access };
  }
  const file = settings.tokenFile;
  if (file === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      'metrics.access is token but metrics.tokenFile is not set. Point it at a file that contains the bearer token.',
    );
  }

  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new StrongroomError(
      'SR_CONFIG_FILE_MISSING',
      `The metrics token file ${file} (metrics.tokenFile) cannot be read: ${error.code ?? error.message}. Create it with the token and mode 0600.`,
    );
  });
  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `The metrics token file ${file} (metrics.tokenFile) has mode ${mode.toString(8).padStart(4, '0')}, so other users can read the token. Run 'chmod 600 ${file}'.`,
    );
  }

  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < 16) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `The metrics token file ${file} (metrics.tokenFile) contains fewer than 16 characters. Write a random token into it, for example with 'openssl rand -hex 32'.`,
    );
  }
  return { kind: 'token', tokenDigest: digest(token) };
}

/** Tells whether a presented bearer token is the configured one, in time independent of where they differ. */
export function tokenMatches(access: { tokenDigest: Buffer }, presented: string): boolean {
  return timingSafeEqual(digest(presented), access.tokenDigest);
}

/** Tells whether a socket address is a loopback address (127.0.0.0/8 or ::1, also IPv4-mapped). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) {
    return false;
  }
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
