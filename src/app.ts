import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { StrongroomConfig } from './config/load.js';
import { StrongroomError } from './errors.js';
import { openStore } from './store/index.js';
import { openKeyring } from './keys/open-keyring.js';
import { createAuditLog } from './audit/index.js';
import { createVaultService } from './vault/service.js';
import { createHealthService } from './vault/health.js';
import { assertListenAllowed, buildServer, listen, readTlsFiles } from './server/index.js';

/** A running service and the way to stop it. */
export interface RunningService {
  config: StrongroomConfig;
  server: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the service from its configuration: database, master keys (with the start-up
 * check), then the HTTP server. Whatever was opened is closed again if a later step fails.
 */
export async function startService(
  config: StrongroomConfig,
  logger: Logger,
): Promise<RunningService> {
  assertListenAllowed(config.listen.host, config.tls !== undefined);
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  const closers: Array<() => Promise<void>> = [() => store.close()];

  try {
    const keyring = await openKeyring(config, store.keys, logger);
    closers.unshift(() => keyring.close());

    const audit = createAuditLog(store, logger);
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
        logger,
        keyring,
        sessionTtlSeconds: config.sessionTtlSeconds,
        lockout: config.lockout,
        loginRateLimit: config.loginRateLimit,
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
