import type { FastifyInstance } from 'fastify';

import { createSecretRetrievalService } from '../../apps/retrieval.js';
import { SECRET_TYPES } from '../../vault/secret-types.js';
import { errorResponses, uuidParams } from '../schemas.js';
import type { ServerDependencies } from '../server.js';

const BEARER_PREFIX = /^Bearer +/i;

/**
 * Registers the retrieval route of applications. The caller registers it outside the scope of
 * login sessions: this route authenticates API tokens only, and reads them only from the
 * Authorization header, never from the URL.
 */
export function registerAppSecretRoutes(app: FastifyInstance, deps: ServerDependencies): void {
  const retrieval = createSecretRetrievalService({
    apiTokens: deps.store.apiTokens,
    vault: deps.store.vault,
    keys: deps.store.keys,
    keyring: deps.keyring,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'app-secrets' }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  // NOTE: the route has no rate limit yet, so a client that retries a rejected token writes one
  // audit event and one log line per request.
  app.get<{ Params: { accountId: string } }>(
    '/app/accounts/:accountId/secret',
    {
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
          ...errorResponses(400, 401, 403, 404, 500, 503),
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
