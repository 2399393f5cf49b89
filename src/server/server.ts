import swagger from '@fastify/swagger';
import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import {
  createAccessWorkflow,
  DEFAULT_ACCESS_SETTINGS,
  type AccessSettings,
} from '../access/index.js';
import type { AuditLog } from '../audit/types.js';
import { TotpEnrolmentService } from '../auth/enrolment.js';
import type { LockoutSettings } from '../auth/lockout.js';
import { createAuthService } from '../auth/service.js';
import { UserAdminService } from '../auth/user-admin.js';
import { registerConsole } from '../console/index.js';
import type { Keyring } from '../keys/keyring.js';
import type { Store } from '../store/repositories.js';
import type { HealthService, VaultService } from '../vault/types.js';
import { addAccessSchemas } from './access-schemas.js';
import { createAuthenticationHook } from './authentication.js';
import { rejectMistypedBodyFields } from './body-types.js';
import { handleError, handleNotFound } from './error-handler.js';
import { createHttpLogger } from './logging.js';
import { registerRateLimit, type RequestRateLimit } from './rate-limit.js';
import { registerAccessRequestRoutes, registerBreakGlassRoutes } from './routes/access-requests.js';
import { registerAccountRoutes } from './routes/accounts.js';
import {
  registerAuditChainRoute,
  registerAuditRoutes,
  type AuditChainVerifier,
} from './routes/audit.js';
import { registerApiTokenRoutes } from './routes/api-tokens.js';
import { DEFAULT_APP_RATE_LIMIT, registerAppSecretRoutes } from './routes/app-secrets.js';
import {
  DEFAULT_LOGIN_RATE_LIMIT,
  registerLoginRoute,
  registerSessionRoutes,
  type LoginRateLimit,
} from './routes/auth.js';
import { registerGroupRoutes } from './routes/groups.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerImportRoutes } from './routes/import.js';
import { registerMetricsRoute, type MetricsEndpoint } from './routes/metrics.js';
import { registerSecretVersionRoutes } from './routes/secret-versions.js';
import { registerTargetAccessRoutes } from './routes/target-access.js';
import { registerTargetRoutes } from './routes/targets.js';
import { registerUserRoutes } from './routes/users.js';
import { addSharedSchemas } from './schemas.js';
import { startExpirySweep } from './sweep-timer.js';

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
  /**
   * Seals new secret versions and the TOTP secrets of users, each under a DEK of its own, and opens
   * secrets for application retrieval.
   */
  keyring: Keyring;
  logger: Logger;
  /** Lifetime of a bearer token in seconds, 8 hours by default. */
  sessionTtlSeconds?: number;
  lockout?: LockoutSettings;
  loginRateLimit?: LoginRateLimit;
  /** Retrievals per client address on the application route, 600 a minute by default. */
  appRateLimit?: RequestRateLimit;
  access?: AccessSettings;
  /** Seconds between sweeps that record expired grants and checkouts, or 0 to turn the timer off. */
  sweepIntervalSeconds?: number;
  /** Clock for sessions, TOTP and grant expiry. Tests pass a frozen one. */
  now?: () => Date;
  /** Verifies the audit chain for GET /api/v1/audit/chain; the route exists only when given. */
  auditChain?: AuditChainVerifier;
  /** The metrics registry for GET /metrics and who may read it. Without it there is no route. */
  metrics?: MetricsEndpoint;
  /** Seconds without a request after which a web console session ends; 15 minutes by default. */
  consoleIdleSeconds?: number;
}

/** One minute: an expiry is recorded at most about a minute late. Access ends on time regardless. */
export const DEFAULT_SWEEP_INTERVAL_SECONDS = 60;

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
 * Builds the REST service: GET /health, GET /openapi.json, the bearer-authenticated API under
 * /api/v1 and the web console under /console. The instance is not listening yet: pass it to `listen`, or call `inject` in tests.
 */
export async function buildServer(
  deps: ServerDependencies,
  options: ServerOptions = {},
): Promise<FastifyInstance> {
  const services = createServices(deps);

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
  addAccessSchemas(app);
  await registerOpenApi(app);
  await registerRateLimit(app);

  registerHealthRoutes(app, deps.health);
  if (deps.metrics !== undefined) {
    registerMetricsRoute(app, deps.metrics);
  }
  await app.register(
    async (api) => {
      api.addHook('onSend', preventCaching);
      registerLoginRoute(api, services.auth, deps.loginRateLimit ?? DEFAULT_LOGIN_RATE_LIMIT);
      await api.register(async (applications) =>
        registerAppSecretRoutes(applications, deps, deps.appRateLimit ?? DEFAULT_APP_RATE_LIMIT),
      );
      await api.register(async (authenticated) =>
        registerAuthenticatedRoutes(authenticated, deps, services),
      );
    },
    { prefix: API_PREFIX },
  );
  await registerConsole(app, deps, services, {
    secure: options.tls !== undefined,
    loginRateLimit: deps.loginRateLimit ?? DEFAULT_LOGIN_RATE_LIMIT,
    ...(deps.consoleIdleSeconds === undefined ? {} : { idleSeconds: deps.consoleIdleSeconds }),
  });

  startExpirySweep(
    app,
    services.access.sweeper,
    deps.sweepIntervalSeconds ?? DEFAULT_SWEEP_INTERVAL_SECONDS,
    deps.logger,
  );
  return app;
}

type Services = ReturnType<typeof createServices>;

/** Creates the login, user, enrolment and access workflow services over the store. */
function createServices(deps: ServerDependencies) {
  const now = deps.now ?? (() => new Date());
  const totpKeys = { keyring: deps.keyring, keys: deps.store.keys };
  const auth = createAuthService({
    users: deps.store.users,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'auth' }),
    totpKeys,
    now,
    ...(deps.sessionTtlSeconds === undefined ? {} : { sessionTtlSeconds: deps.sessionTtlSeconds }),
    ...(deps.lockout === undefined ? {} : { lockout: deps.lockout }),
  });
  const enrolment = new TotpEnrolmentService({
    users: deps.store.users,
    audit: deps.audit,
    totpKeys,
    now,
  });
  const users = new UserAdminService(deps.store.users, deps.audit, now);
  const access = createAccessWorkflow({
    groups: deps.store.groups,
    access: deps.store.access,
    users: deps.store.users,
    vault: deps.store.vault,
    secrets: deps.vault,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'access' }),
    settings: deps.access ?? DEFAULT_ACCESS_SETTINGS,
    now,
  });
  return { auth, enrolment, users, access };
}

async function registerAuthenticatedRoutes(
  app: FastifyInstance,
  deps: ServerDependencies,
  services: Services,
) {
  app.addHook('onRequest', createAuthenticationHook(services.auth));

  registerSessionRoutes(app, services.auth, services.enrolment);
  registerUserRoutes(app, services.users);
  registerGroupRoutes(app, services.access.groups);
  registerTargetRoutes(app, deps.vault);
  registerTargetAccessRoutes(app, services.access.groups);
  registerAccountRoutes(app, deps.vault, services.access.use, deps.audit);
  registerAccessRequestRoutes(app, services.access.requests);
  registerBreakGlassRoutes(app, services.access.breakGlass);
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
