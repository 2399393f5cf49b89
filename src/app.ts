import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { StrongroomConfig } from './config/load.js';
import { StrongroomError } from './errors.js';
import { openStore } from './store/index.js';
import { openKeyring } from './keys/open-keyring.js';
import { createAuditLog } from './audit/index.js';
import { CheckpointWriter } from './audit/chain/checkpoints.js';
import { openCheckpointKeys, openRetiredKeysOfKeyring } from './audit/chain/keys.js';
import { verifyAuditChain } from './audit/chain/verify.js';
import { createVaultService } from './vault/service.js';
import { createHealthService } from './vault/health.js';
import { assertListenAllowed, buildServer, listen, readTlsFiles } from './server/index.js';
import { createServiceMetrics, loadMetricsAccess } from './observability/index.js';

/** A running service and the way to stop it. */
export interface RunningService {
  config: StrongroomConfig;
  server: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** Options for embedding the service, used by the benchmarks. */
export interface StartOptions {
  /** Adds routes to the server before it listens, such as a benchmark's constant route. */
  extendServer?: (server: FastifyInstance) => void;
}

/**
 * Starts the service from its configuration: database, master keys (with the start-up
 * check), then the HTTP server. Whatever was opened is closed again if a later step fails.
 */
export async function startService(
  config: StrongroomConfig,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningService> {
  assertListenAllowed(config.listen.host, config.tls !== undefined);
  const metricsAccess = await loadMetricsAccess(config.metrics);
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  const metrics = createServiceMetrics(logger);
  const closers: Array<() => Promise<void>> = [() => store.close(), async () => metrics.stop()];

  try {
    const keyring = await openKeyring(config, store.keys, logger, metrics.instrument);
    closers.unshift(() => keyring.close());
    metrics.observeKeyring(keyring);

    // The service does not start without its checkpoint key: a missing HSM key is
    // SR_AUDIT_KEY_NOT_FOUND, which names the label and the command that creates it.
    const checkpointKeys = await openCheckpointKeys(config, keyring, logger);
    closers.unshift(async () => {
      for (const key of checkpointKeys) {
        await key.close();
      }
    });
    const [activeCheckpointKey] = checkpointKeys;
    const checkpoints = new CheckpointWriter(
      store.audit,
      activeCheckpointKey!,
      logger.child({ component: 'audit' }),
      config.auditCheckpoint,
    );
    await checkpoints.start();
    closers.unshift(() => checkpoints.stop());

    const audit = createAuditLog(store, logger, { checkpoints });
    const vault = createVaultService({
      vault: store.vault,
      keys: store.keys,
      keyring,
      audit,
      logger,
    });
    const health = createHealthService(keyring, store, logger);
    const tls = config.tls === undefined ? undefined : await readTlsFiles(config.tls);
    const server = await buildServer(
      {
        store,
        vault,
        health,
        audit,
        keyring,
        logger,
        sessionTtlSeconds: config.sessionTtlSeconds,
        consoleIdleSeconds: config.consoleIdleSeconds,
        auditChain: {
          verify: async () => {
            const retired = await openRetiredKeysOfKeyring(
              store.audit,
              keyring,
              checkpointKeys,
              logger,
            );
            return verifyAuditChain(store.audit, [...checkpointKeys, ...retired]);
          },
        },
        metrics: { registry: metrics.registry, access: metricsAccess },
        lockout: config.lockout,
        loginRateLimit: config.loginRateLimit,
        appRateLimit: config.appRateLimit,
        access: { breakGlassMaxSeconds: config.access.breakGlassMaxSeconds },
        sweepIntervalSeconds: config.access.sweepIntervalSeconds,
      },
      tls === undefined ? {} : { tls },
    ).catch((error: unknown) => {
      // Fastify creates the HTTPS server here, so a certificate or key it cannot use fails now.
      if (config.tls === undefined) {
        throw error;
      }
      throw new StrongroomError(
        'SR_CONFIG_VALUE_INVALID',
        `The TLS certificate ${config.tls.certFile} or key ${config.tls.keyFile} (server.tls.certFile, server.tls.keyFile) cannot be used: ${(error as Error).message}. Give a PEM certificate chain and its matching PEM private key.`,
        { cause: error },
      );
    });
    closers.unshift(() => server.close());
    options.extendServer?.(server);

    const url = await listen(server, config.listen);
    logger.info(
      { url, provider: keyring.activeKind, database: store.dialect },
      'strongroom started',
    );
    return { config, server, url, close: () => closeAll(closers, logger) };
  } catch (error) {
    await closeAll(closers, logger);
    throw error;
  }
}

async function closeAll(closers: Array<() => Promise<void>>, logger: Logger): Promise<void> {
  for (const close of closers) {
    await close().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
  }
}
