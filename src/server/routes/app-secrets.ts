import type { FastifyInstance } from 'fastify';

import { createSecretRetrievalService } from '../../apps/retrieval.js';
import { SECRET_TYPES } from '../../vault/secret-types.js';
import { rateLimitedRoute, type RequestRateLimit } from '../rate-limit.js';
import { errorResponses, uuidParams } from '../schemas.js';
import type { ServerDependencies } from '../server.js';

const BEARER_PREFIX = /^Bearer +/i;

/**
 * 600 retrievals a minute per client address: ten a second for an application that reads secrets
 * at start-up or on each job, while a client that retries a rejected token is slowed down.
 */
export const DEFAULT_APP_RATE_LIMIT: RequestRateLimit = { max: 600, windowSeconds: 60 };

/**
 * Registers the retrieval route of applications. The caller registers it outside the scope of
 * login sessions: this route authenticates API tokens only, and reads them only from the
 * Authorization header, never from the URL. Each client address may send `rateLimit.max` requests
 * per window, rejected ones included.
 */
export function registerAppSecretRoutes(
  app: FastifyInstance,
  deps: ServerDependencies,
  rateLimit: RequestRateLimit,
): void {
  const retrieval = createSecretRetrievalService({
    apiTokens: deps.store.apiTokens,
    vault: deps.store.vault,
    keys: deps.store.keys,
    keyring: deps.keyring,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'app-secrets' }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  app.get<{ Params: { accountId: string } }>(
    '/app/accounts/:accountId/secret',
    {
      config: rateLimitedRoute(rateLimit, 'secret retrievals'),
      schema: {
        summary: 'Retrieve the current secret of an account with an application API token',
        tags: ['applications'],
        security: [{ apiTokenAuth: [] }],
        params: uuidParams('accountId'),
        // No query parameters, so that a token put in the URL is rejected rather than ignored.
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: {
          200: {
            description: 'The secret.',
            headers: { 'Cache-Control': { type: 'string', description: 'Always no-store.' } },
            type: 'object',
            required: ['secret', 'secretType', 'secretVersion'],
            properties: {
              secret: { type: 'string' },
              secretType: { type: 'string', enum: [...SECRET_TYPES] },
              secretVersion: { type: 'integer' },
            },
          },
          ...errorResponses(400, 401, 403, 404, 429, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const header = request.headers.authorization;
      const token =
        header !== undefined && BEARER_PREFIX.test(header)
          ? header.replace(BEARER_PREFIX, '').trim()
          : undefined;
      const secret = await retrieval.retrieve({
        token,
        accountId: request.params.accountId,
        clientAddress: request.ip,
      });
      return reply.header('Cache-Control', 'no-store').send(secret);
    },
  );
}
