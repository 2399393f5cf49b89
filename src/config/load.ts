import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { StrongroomError } from '../errors.js';
import { homeLayout, type HomeLayout } from './home.js';
import { parseProperties, type PropertiesFile } from './properties.js';
import { parseProviderFile, type ProviderFile } from './provider-file.js';
import { readFailoverConfig, type HsmFailoverConfig } from './hsm-failover.js';
import { findKeyProblems, SECURITY_KEYS, SERVICE_KEYS } from './known-keys.js';
import { parseListenAddress, type ListenAddress } from './listen-address.js';

export interface HsmConfig {
  providerFile: ProviderFile;
  keyLabel: string;
  /** Label of the audit checkpoint key on the same token (strongroom.audit.keyLabel). */
  auditKeyLabel: string;
  poolSize: number;
  /**
   * strongroom.hsm.batchProcesses: processes that run the DEK migration's HSM batches, each with a
   * module instance and a session of its own. 0 runs them on threads of the PKCS#11 worker. The
   * default is the number of CPUs, at most poolSize.
   */
  batchProcesses: number;
  /**
   * strongroom.hsm.keyWrap. The default `token` uses the token's own mechanisms. `ecb-rfc3394` lets
   * a token without CKM_AES_GCM and CKM_AES_KEY_WRAP wrap DEKs with RFC 3394 over its CKM_AES_ECB.
   */
  keyWrap: 'token' | 'ecb-rfc3394';
  /** hsm.keystore.load.password as `hsm register` sealed it, or undefined when not registered. */
  sealedPin: string | undefined;
  /** The random key that, with the machine ID, seals the PIN. */
  sealKeyFile: string;
  /** Standby members tried in order when the primary (providerFile) is unreachable. */
  failover: HsmFailoverConfig | undefined;
}

/** Everything Strongroom reads from its home folder, checked and with paths made absolute. */
export interface StrongroomConfig {
  layout: HomeLayout;
  /** Unknown and repeated keys, to be logged when the service starts and shown by the doctor. */
  warnings: string[];
  databaseUrl: string;
  listen: ListenAddress;
  tls: { certFile: string; keyFile: string } | undefined;
  logLevel: string;
  sessionTtlSeconds: number;
  /** Seconds without a request after which a web console session ends. */
  consoleIdleSeconds: number;
  /** Failed logins that lock a user, in what window, and for how long (seconds). */
  lockout: { maxFailures: number; windowSeconds: number; lockSeconds: number };
  /** Logins per client address per window (seconds), per service node. */
  loginRateLimit: { max: number; windowSeconds: number };
  appRateLimit: { max: number; windowSeconds: number };
  access: { breakGlassMaxSeconds: number; sweepIntervalSeconds: number };
  /** The provider that wraps new DEKs and that the service requires (kron.crypto.keyProvider). */
  activeProvider: 'file' | 'hsm';
  keyFile: string;
  hsm: HsmConfig | undefined;
  dekCache: { maxEntries: number; maxAgeSeconds: number };
  /**
   * When the service writes an audit checkpoint: after `events` events since the last one, and
   * every `seconds` seconds when events were added since (0 turns the timer off).
   */
  auditCheckpoint: { events: number; seconds: number };
  /**
   * Access rule of GET /metrics (metrics.access): loopback clients only, clients with the bearer
   * token in `tokenFile` (metrics.tokenFile), or `off`, where the route is not registered.
   */
  metrics: { access: 'loopback' | 'token' | 'off'; tokenFile: string | undefined };
}

/** Events between two audit checkpoints at most, unless audit.checkpoint.events sets another count. */
export const DEFAULT_CHECKPOINT_EVENTS = 100;
/** Seconds between timed audit checkpoints, unless audit.checkpoint.seconds sets another interval. */
export const DEFAULT_CHECKPOINT_SECONDS = 60;

/** Reads strongroom.properties, security/security.properties and the PKCS#11 provider file. */
export async function loadConfig(home: string): Promise<StrongroomConfig> {
  const layout = homeLayout(home);
  if (!existsSync(layout.home)) {
    throw new StrongroomError(
      'SR_CONFIG_HOME_MISSING',
      `Home folder ${layout.home} does not exist. Run 'strongroom init --home ${layout.home}', or point --home or STRONGROOM_HOME at the existing folder.`,
    );
  }
  const server = await readPropertiesFile(
    layout.strongroomProperties,
    `Run 'strongroom init --home ${layout.home}' to create it`,
  );
  const security = await readPropertiesFile(
    layout.securityProperties,
    `Run 'strongroom init --home ${layout.home}' to create it`,
  );

  const activeProvider = readChoice(security, 'kron.crypto.keyProvider', ['file', 'hsm'], 'file');
  // Read even without an HSM, so that a bad value is reported before the HSM is added.
  const poolSize = readInteger(security, 'strongroom.hsm.poolSize', 4, 1, 64);
  const keyWrap = readChoice(security, 'strongroom.hsm.keyWrap', ['token', 'ecb-rfc3394'], 'token');
  const batchProcesses = readInteger(
    security,
    'strongroom.hsm.batchProcesses',
    Math.min(poolSize, availableParallelism()),
    0,
    64,
  );
  const hsm = await readHsmConfig(security, layout, activeProvider === 'hsm', {
    poolSize,
    batchProcesses,
    keyWrap,
  });
  const certFile = optional(server, 'server.tls.certFile');
  const keyFile = optional(server, 'server.tls.keyFile');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${server.path}: set both server.tls.certFile and server.tls.keyFile, or neither.`,
    );
  }

  return {
    warnings: [
      ...findKeyProblems(server, SERVICE_KEYS),
      ...findKeyProblems(security, SECURITY_KEYS),
    ],
    layout,
    databaseUrl: required(server, 'database.url', 'for example sqlite:data/strongroom.db'),
    listen: parseListenAddress(optional(server, 'server.listen') ?? '127.0.0.1:8080', server.path),
    tls:
      certFile === undefined || keyFile === undefined
        ? undefined
        : { certFile: resolveIn(home, certFile), keyFile: resolveIn(home, keyFile) },
    logLevel: readChoice(
      server,
      'log.level',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
      'info',
    ),
    sessionTtlSeconds: readInteger(server, 'server.sessionTtlSeconds', 8 * 3600, 60, 7 * 24 * 3600),
    consoleIdleSeconds: readInteger(server, 'server.console.idleSeconds', 15 * 60, 60, 24 * 3600),
    lockout: {
      maxFailures: readInteger(server, 'auth.lockout.maxFailures', 5, 1, 1000),
      windowSeconds: readInteger(server, 'auth.lockout.windowSeconds', 900, 1, 7 * 24 * 3600),
      lockSeconds: readInteger(server, 'auth.lockout.lockSeconds', 900, 1, 7 * 24 * 3600),
    },
    loginRateLimit: {
      max: readInteger(server, 'auth.login.rateLimit.max', 10, 1, 100_000),
      windowSeconds: readInteger(server, 'auth.login.rateLimit.windowSeconds', 60, 1, 86_400),
    },
    appRateLimit: {
      max: readInteger(server, 'app.rateLimit.max', 600, 1, 1_000_000),
      windowSeconds: readInteger(server, 'app.rateLimit.windowSeconds', 60, 1, 86_400),
    },
    access: {
      breakGlassMaxSeconds: readInteger(server, 'access.breakGlass.maxSeconds', 3600, 60, 86_400),
      sweepIntervalSeconds: readInteger(server, 'access.sweepIntervalSeconds', 60, 0, 3600),
    },
    activeProvider,
    keyFile: resolveIn(
      layout.securityDir,
      optional(security, 'strongroom.keyFile') ?? 'master.key',
    ),
    hsm,
    metrics: readMetricsConfig(server, home),
    dekCache: {
      maxEntries: readInteger(security, 'strongroom.dekCache.maxEntries', 10_000, 0, 10_000_000),
      maxAgeSeconds: readInteger(security, 'strongroom.dekCache.maxAgeSeconds', 300, 0, 86_400),
    },
    auditCheckpoint: {
      events: readInteger(
        server,
        'audit.checkpoint.events',
        DEFAULT_CHECKPOINT_EVENTS,
        1,
        1_000_000,
      ),
      seconds: readInteger(
        server,
        'audit.checkpoint.seconds',
        DEFAULT_CHECKPOINT_SECONDS,
        0,
        86_400,
      ),
    },
  };
}

async function readHsmConfig(
  security: PropertiesFile,
  layout: HomeLayout,
  requiredByProvider: boolean,
  tokenSettings: Pick<HsmConfig, 'poolSize' | 'batchProcesses' | 'keyWrap'>,
): Promise<HsmConfig | undefined> {
  const configPath = optional(security, 'hsm.provider.configPath');
  if (configPath === undefined) {
    // Reports standby members listed without a primary member.
    await readFailoverConfig(security, layout.securityDir, undefined);
    if (requiredByProvider) {
      throw new StrongroomError(
        'SR_CONFIG_KEY_MISSING',
        `${security.path}: kron.crypto.keyProvider is hsm but hsm.provider.configPath is not set. Point it at the PKCS#11 provider file, for example ${layout.defaultProviderFile}.`,
      );
    }
    return undefined;
  }

  const providerPath = resolveIn(layout.securityDir, configPath);
  const providerText = await readFile(providerPath, 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      throw new StrongroomError(
        'SR_CONFIG_FILE_MISSING',
        `PKCS#11 provider file ${providerPath} (hsm.provider.configPath in ${security.path}) cannot be read: ${error.code ?? error.message}.`,
      );
    },
  );

  // The alias is taken verbatim: a trailing blank is part of the value and is reported when the
  // key is looked up, because it is the likely reason a key is not found.
  const alias = security.get('hsm.keystore.alias');
  if (alias === undefined || alias.value.trim() === '') {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${security.path}: hsm.keystore.alias is not set. Set it to the label of the AES-256 master key on the token.`,
    );
  }

  const auditKeyLabel =
    optional(security, 'strongroom.audit.keyLabel') ?? `${alias.value.trim()}-audit`;
  if (auditKeyLabel === alias.value) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${security.path}: strongroom.audit.keyLabel is '${auditKeyLabel}', the label of the master key. The audit checkpoint key must be a key of its own; give it another label, for example '${auditKeyLabel}-audit'.`,
    );
  }

  const providerFile = parseProviderFile(providerText, providerPath);
  return {
    providerFile,
    keyLabel: alias.value,
    auditKeyLabel,
    ...tokenSettings,
    sealedPin: optional(security, 'hsm.keystore.load.password'),
    sealKeyFile: resolve(layout.securityDir, 'pin-seal.key'),
    failover: await readFailoverConfig(security, layout.securityDir, providerFile),
  };
}

function readMetricsConfig(server: PropertiesFile, home: string): StrongroomConfig['metrics'] {
  const access = readChoice(server, 'metrics.access', ['loopback', 'token', 'off'], 'loopback');
  const tokenFile = optional(server, 'metrics.tokenFile');
  if (access === 'token' && tokenFile === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${server.path}: metrics.access is token but metrics.tokenFile is not set. Point it at a file that contains the bearer token for GET /metrics.`,
    );
  }
  return { access, tokenFile: tokenFile === undefined ? undefined : resolveIn(home, tokenFile) };
}

async function readPropertiesFile(path: string, fix: string): Promise<PropertiesFile> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new StrongroomError('SR_CONFIG_FILE_MISSING', `${path} does not exist. ${fix}.`);
    }
    throw new StrongroomError(
      'SR_CONFIG_FILE_MISSING',
      `${path} cannot be read: ${error.code ?? error.message}.`,
    );
  });
  return parseProperties(text, path);
}

function optional(file: PropertiesFile, key: string): string | undefined {
  const value = file.get(key)?.value.trim();
  return value === undefined || value === '' ? undefined : value;
}

function required(file: PropertiesFile, key: string, example: string): string {
  const value = optional(file, key);
  if (value === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${file.path}: ${key} is not set; ${example}.`,
    );
  }
  return value;
}

function readChoice<T extends string>(
  file: PropertiesFile,
  key: string,
  choices: readonly T[],
  fallback: T,
): T {
  const entry = file.get(key);
  const value = entry?.value.trim();
  if (value === undefined || value === '') {
    return fallback;
  }
  if (!(choices as readonly string[]).includes(value)) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${file.path}:${entry?.line ?? 0}: ${key} is '${value}'; expected one of ${choices.join(', ')}.`,
    );
  }
  return value as T;
}

function readInteger(
  file: PropertiesFile,
  key: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const entry = file.get(key);
  const value = entry?.value.trim();
  if (value === undefined || value === '') {
    return fallback;
  }
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${file.path}:${entry?.line ?? 0}: ${key} is '${value}'; expected an integer from ${min} to ${max}.`,
    );
  }
  return number;
}

function resolveIn(base: string, path: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}
