import swagger from '@fastify/swagger';
import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { createAuthService, type AuthService } from '../auth/service.js';
import type { Keyring } from '../keys/keyring.js';
import type { Store } from '../store/repositories.js';
import type { HealthService, VaultService } from '../vault/types.js';
import { createAuthenticationHook } from './authentication.js';
import { rejectMistypedBodyFields } from './body-types.js';
import { handleError, handleNotFound } from './error-handler.js';
import { createHttpLogger } from './logging.js';
import { registerAccountRoutes } from './routes/accounts.js';
import {
  registerAuditChainRoute,
  registerAuditRoutes,
  type AuditChainVerifier,
} from './routes/audit.js';
import { registerApiTokenRoutes } from './routes/api-tokens.js';
import { registerAppSecretRoutes } from './routes/app-secrets.js';
import { registerLoginRoute, registerSessionRoutes } from './routes/auth.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerImportRoutes } from './routes/import.js';
import { registerSecretVersionRoutes } from './routes/secret-versions.js';
import { registerMetricsRoute, type MetricsEndpoint } from './routes/metrics.js';
import { registerTargetRoutes } from './routes/targets.js';
import { addSharedSchemas } from './schemas.js';

/**
 * Maximum request body in bytes. A secret of the maximum 16384 characters takes at most 96 KiB of
 * JSON even when every character is written as a `\uXXXX` escape, and the other fields are small.
 */
export const BODY_LIMIT_BYTES = 128 * 1024;

export const API_PREFIX = '/api/v1';

export interface ServerDependencies {
  store: Store;
  vault: VaultService;
  health: HealthService;
  audit: AuditLog;
  /** Seals new secret versions and opens secrets for application retrieval. */
  keyring: Keyring;
  logger: Logger;
  /** Lifetime of a bearer token in seconds, 8 hours by default. */
  sessionTtlSeconds?: number;
  /** Clock for session expiry. Tests pass a frozen one. */
  now?: () => Date;
  /** Verifies the audit chain for GET /api/v1/audit/chain; the route exists only when given. */
  auditChain?: AuditChainVerifier;
  /** The metrics registry for GET /metrics and who may read it. Without it there is no route. */
  metrics?: MetricsEndpoint;
}

/** PEM certificate chain and private key for HTTPS. */
export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface ServerOptions {
  /** Certificate and key for HTTPS. Without them the service speaks plain HTTP. */
  tls?: TlsMaterial;
}

/**
 * Builds the REST service: GET /health, GET /openapi.json and the bearer-authenticated API under
 * /api/v1. The instance is not listening yet: pass it to `listen`, or call `inject` in tests.
 */
export async function buildServer(
  deps: ServerDependencies,
  options: ServerOptions = {},
): Promise<FastifyInstance> {
  const auth = createAuthService({
    users: deps.store.users,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'auth' }),
    ...(deps.sessionTtlSeconds === undefined ? {} : { sessionTtlSeconds: deps.sessionTtlSeconds }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  // Typed as the default instance: the pino Logger type and an HTTPS raw server differ from the
  // defaults only in ways that no route or hook here relies on.
  const app = fastify({
    loggerInstance: createHttpLogger(deps.logger),
    bodyLimit: BODY_LIMIT_BYTES,
    // Fastify drops unknown body fields by default. Rejecting them instead makes a misspelt field an
    // error. `example` is an OpenAPI annotation that Ajv must accept and ignore.
    ajv: { customOptions: { removeAdditional: false, keywords: ['example'] } },
    ...(options.tls === undefined
      ? {}
      : { https: { cert: options.tls.cert, key: options.tls.key } }),
  }) as unknown as FastifyInstance;

  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  app.addHook('preValidation', rejectMistypedBodyFields);
  addSharedSchemas(app);
  await registerOpenApi(app);

  registerHealthRoutes(app, deps.health);
  if (deps.metrics !== undefined) {
    registerMetricsRoute(app, deps.metrics);
  }
  await app.register(
    async (api) => {
      api.addHook('onSend', preventCaching);
      registerLoginRoute(api, auth);
      await api.register(async (applications) => registerAppSecretRoutes(applications, deps));
      await api.register(async (authenticated) =>
        registerAuthenticatedRoutes(authenticated, deps, auth),
      );
    },
    { prefix: API_PREFIX },
  );

  return app;
}

async function registerAuthenticatedRoutes(
  app: FastifyInstance,
  deps: ServerDependencies,
  auth: AuthService,
) {
  app.addHook('onRequest', createAuthenticationHook(auth));

  registerSessionRoutes(app, auth);
  registerTargetRoutes(app, deps.vault);
  registerAccountRoutes(app, deps.vault, deps.audit);
  registerAuditRoutes(app, deps.store.audit);
  if (deps.auditChain !== undefined) {
    registerAuditChainRoute(app, deps.auditChain);
  }
  registerSecretVersionRoutes(app, deps);
  registerImportRoutes(app, deps);
  registerApiTokenRoutes(app, deps);
}

/** Registers @fastify/swagger, which builds the OpenAPI 3 document from the route schemas, and GET /openapi.json. */
async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Strongroom REST API',
        version: '1',
        description: 'Targets, privileged accounts and their secrets, and the audit trail.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'The token from POST /api/v1/auth/login.',
          },
          apiTokenAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An application API token from POST /api/v1/api-tokens.',
          },
        },
      },
    },
    // Shared schemas keep their $id as their name under components.schemas.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) =>
        typeof json.$id === 'string' ? json.$id : `def-${index}`,
    },
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/** Marks every API response, which may carry a token or a secret, as not to be stored by caches. */
async function preventCaching(
  _request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): Promise<unknown> {
  void reply.header('Cache-Control', 'no-store');
  return payload;
}
