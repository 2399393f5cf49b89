import { fileURLToPath } from 'node:url';

import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyInstance } from 'fastify';

import type { AccessWorkflow } from '../access/index.js';
import { createApiTokenService } from '../apps/api-tokens.js';
import type { TotpEnrolmentService } from '../auth/enrolment.js';
import type { AuthService } from '../auth/service.js';
import type { UserAdminService } from '../auth/user-admin.js';
import type { LoginRateLimit } from '../server/routes/auth.js';
import type { ServerDependencies } from '../server/server.js';
import type { ConsoleContext } from './context.js';
import { createConsoleErrorHandler, renderConsoleNotFound } from './error-pages.js';
import { checkCsrfToken, createConsoleGuard } from './guard.js';
import { setSecurityHeaders } from './headers.js';
import { registerAdminPages } from './pages/admin.js';
import { registerAuditPages } from './pages/audit.js';
import { registerDashboard } from './pages/dashboard.js';
import { registerEnrolmentPages } from './pages/enrol.js';
import { registerLoginPages } from './pages/login.js';
import { registerLogout } from './pages/logout.js';
import { registerRequestPages } from './pages/requests.js';
import { registerTargetPages } from './pages/targets.js';
import { registerTokenPages } from './pages/tokens.js';
import { registerUsePages } from './pages/use.js';
import { DEFAULT_CONSOLE_IDLE_SECONDS, IdleTracker } from './session.js';

export const CONSOLE_PREFIX = '/console';

/**
 * Templates and static files are read from the source tree, which is the same folder for the
 * TypeScript sources and for the build: src/console/ and dist/console/ are both two levels below the
 * project root.
 */
const CONSOLE_SOURCE_DIR = fileURLToPath(new URL('../../src/console/', import.meta.url));

export interface ConsoleOptions {
  /** True when the service speaks HTTPS: cookies get Secure and the `__Host-` prefix. */
  secure: boolean;
  /** Seconds without a request after which a console session ends. */
  idleSeconds?: number;
  loginRateLimit: LoginRateLimit;
}

export interface ConsoleServiceSet {
  auth: AuthService;
  enrolment: TotpEnrolmentService;
  users: UserAdminService;
  access: AccessWorkflow;
}

/**
 * Registers the web console under /console: server-rendered pages that call the same services,
 * permission checks and audit log as the REST API, with a cookie session from the same session store.
 */
export async function registerConsole(
  app: FastifyInstance,
  deps: ServerDependencies,
  services: ConsoleServiceSet,
  options: ConsoleOptions,
): Promise<void> {
  const idleSeconds = options.idleSeconds ?? DEFAULT_CONSOLE_IDLE_SECONDS;
  const context: ConsoleContext = {
    deps,
    services: {
      ...services,
      apiTokens: createApiTokenService({
        apiTokens: deps.store.apiTokens,
        vault: deps.store.vault,
        audit: deps.audit,
        logger: deps.logger.child({ component: 'api-tokens' }),
        ...(deps.now === undefined ? {} : { now: deps.now }),
      }),
    },
    cookies: { secure: options.secure },
    idle: new IdleTracker(idleSeconds),
    idleSeconds,
    now: deps.now ?? (() => new Date()),
  };

  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.redirect(CONSOLE_PREFIX, 303),
  );

  await app.register(
    async (consoleApp) => {
      await consoleApp.register(cookie);
      await consoleApp.register(formbody);
      await consoleApp.register(view, {
        engine: { eta: new Eta({ autoEscape: true, autoTrim: false }) },
        root: `${CONSOLE_SOURCE_DIR}views`,
      });
      await consoleApp.register(fastifyStatic, {
        root: `${CONSOLE_SOURCE_DIR}assets`,
        prefix: '/assets/',
        decorateReply: false,
        schemaHide: true,
      });

      consoleApp.addHook('onRequest', setSecurityHeaders);
      consoleApp.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, hide: true };
      });
      consoleApp.setErrorHandler(createConsoleErrorHandler(context));
      consoleApp.setNotFoundHandler(renderConsoleNotFound);

      registerLoginPages(consoleApp, context, options.loginRateLimit);
      await consoleApp.register(async (signedIn) => {
        signedIn.addHook('onRequest', createConsoleGuard(context));
        signedIn.addHook('preHandler', checkCsrfToken);
        registerDashboard(signedIn, context);
        registerLogout(signedIn, context);
        registerEnrolmentPages(signedIn, context);
        registerTargetPages(signedIn, context);
        registerRequestPages(signedIn, context);
        registerUsePages(signedIn, context);
        registerAuditPages(signedIn, context);
        registerAdminPages(signedIn, context);
        registerTokenPages(signedIn, context);
      });
    },
    { prefix: CONSOLE_PREFIX },
  );
}
