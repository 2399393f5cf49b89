import type { PropertiesFile } from './properties.js';

/** Keys that strongroom.properties may contain. */
export const SERVICE_KEYS = new Set([
  'database.url',
  'server.listen',
  'server.tls.certFile',
  'server.tls.keyFile',
  'server.sessionTtlSeconds',
  'server.console.idleSeconds',
  'log.level',
  'audit.checkpoint.events',
  'audit.checkpoint.seconds',
  'metrics.access',
  'metrics.tokenFile',
  'auth.lockout.maxFailures',
  'auth.lockout.windowSeconds',
  'auth.lockout.lockSeconds',
  'auth.login.rateLimit.max',
  'auth.login.rateLimit.windowSeconds',
  'app.rateLimit.max',
  'app.rateLimit.windowSeconds',
  'access.breakGlass.maxSeconds',
  'access.sweepIntervalSeconds',
]);

/** Keys of security.properties: the integration guide's, then Strongroom's own additions. */
export const SECURITY_KEYS = new Set([
  'kron.crypto.keyProvider',
  'hsm.provider.classname',
  'hsm.provider.configPath',
  'hsm.keystore.type',
  'hsm.keystore.alias',
  'hsm.secretkey.algorithm',
  'hsm.keystore.load.password',
  'hsm.keystore.entry.password',
  'strongroom.keyFile',
  'strongroom.hsm.poolSize',
  'strongroom.hsm.batchProcesses',
  'strongroom.hsm.failover.configPaths',
  'strongroom.hsm.failover.retryPrimarySeconds',
  'strongroom.hsm.keyWrap',
  'strongroom.dekCache.maxEntries',
  'strongroom.dekCache.maxAgeSeconds',
  'strongroom.audit.keyLabel',
]);

/**
 * Lists keys that Strongroom does not read (most often a misspelling, which would otherwise leave
 * a default in force silently) and keys set more than once (where the last line wins, as in Java).
 */
export function findKeyProblems(file: PropertiesFile, known: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const firstLine = new Map<string, number>();

  for (const entry of file.entries) {
    const earlier = firstLine.get(entry.key);
    if (earlier !== undefined) {
      problems.push(
        `${file.path}:${entry.line}: ${entry.key} is also set on line ${earlier}; line ${entry.line} wins.`,
      );
    } else {
      firstLine.set(entry.key, entry.line);
    }
    if (!known.has(entry.key)) {
      problems.push(
        `${file.path}:${entry.line}: ${entry.key} is not a Strongroom setting and is ignored; check its spelling.`,
      );
    }
  }
  return problems;
}
