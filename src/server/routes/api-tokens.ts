import type { FastifyInstance } from 'fastify';

import { createApiTokenService, type NewApiToken } from '../../apps/api-tokens.js';
import { MAX_ALLOWED_NETWORKS } from '../../apps/networks.js';
import { getActor, requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses, printableText, uuidParams } from '../schemas.js';
import type { ServerDependencies } from '../server.js';

/** Maximum number of accounts in the scope of one API token. */
const MAX_SCOPE_ACCOUNTS = 100;

const apiTokenView = {
  type: 'object',
  description: 'An API token of an application, without the token.',
  required: [
    'id',
    'name',
    'accountIds',
    'allowedNetworks',
    'createdAt',
    'createdBy',
    'expiresAt',
    'state',
  ],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    accountIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
    allowedNetworks: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: 'string', format: 'date-time' },
    revokedBy: { type: 'string' },
    state: { type: 'string', enum: ['active', 'expired', 'revoked'] },
  },
};

/** Registers the administration of API tokens, inside the authenticated scope. */
export function registerApiTokenRoutes(app: FastifyInstance, deps: ServerDependencies): void {
  const tokens = createApiTokenService({
    apiTokens: deps.store.apiTokens,
    vault: deps.store.vault,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'api-tokens' }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  app.post<{ Body: NewApiToken }>(
    '/api-tokens',
    {
      onRequest: requirePermission('api-tokens.manage'),
      schema: {
        summary:
          'Create an API token for an application; the response is the only time it is shown',
        tags: ['api-tokens'],
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['name', 'accountIds', 'allowedNetworks', 'expiresAt'],
          additionalProperties: false,
          properties: {
            name: {
              ...printableText(1, 100),
              description: 'The application, such as billing-batch.',
            },
            accountIds: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_SCOPE_ACCOUNTS,
              items: { type: 'string', format: 'uuid' },
              description: 'The accounts whose secrets the token may retrieve.',
            },
            allowedNetworks: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_ALLOWED_NETWORKS,
              items: { type: 'string', maxLength: 64 },
              description: 'CIDR blocks, IPv4 or IPv6, from which the token may be used.',
              example: ['10.20.0.0/16', '2001:db8::/48'],
            },
            expiresAt: { type: 'string', format: 'date-time' },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['token', 'apiToken'],
            properties: {
              token: {
                type: 'string',
                description: 'The token. It is not stored and never shown again.',
              },
              apiToken: apiTokenView,
            },
          },
          ...errorResponses(400, 401, 403, 404, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const created = await tokens.createToken(request.body, getActor(request));
      return reply.status(201).header('Cache-Control', 'no-store').send(created);
    },
  );

  app.get(
    '/api-tokens',
    {
      onRequest: requirePermission('api-tokens.manage'),
      schema: {
        summary: 'List the API tokens, without the tokens',
        tags: ['api-tokens'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['apiTokens'],
            properties: { apiTokens: { type: 'array', items: apiTokenView } },
          },
          ...errorResponses(401, 403, 500),
        },
      },
    },
    async () => ({ apiTokens: await tokens.listTokens() }),
  );

  app.post<{ Params: { tokenId: string } }>(
    '/api-tokens/:tokenId/revoke',
    {
      onRequest: requirePermission('api-tokens.manage'),
      schema: {
        summary: 'Revoke an API token; it is refused from then on',
        tags: ['api-tokens'],
        security: bearerSecurity,
        params: uuidParams('tokenId'),
        response: { 200: apiTokenView, ...errorResponses(400, 401, 403, 404, 409, 500, 503) },
      },
    },
    async (request) => tokens.revokeToken(request.params.tokenId, getActor(request)),
  );
}
