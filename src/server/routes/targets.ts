import type { FastifyInstance } from 'fastify';

import type { VaultService } from '../../vault/types.js';
import { getActor, requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses, printableText, uuidParams } from '../schemas.js';

interface TargetBody {
  name: string;
  address: string;
  description?: string;
}

interface TargetParams {
  targetId: string;
}

/** Registers the target routes. The caller registers them inside the authenticated scope. */
export function registerTargetRoutes(app: FastifyInstance, vault: VaultService): void {
  app.post<{ Body: TargetBody }>(
    '/targets',
    {
      onRequest: requirePermission('targets.create'),
      schema: {
        summary: 'Create a target system',
        tags: ['targets'],
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['name', 'address'],
          additionalProperties: false,
          properties: {
            name: printableText(1, 200),
            address: {
              ...printableText(1, 255),
              description: 'Host name or IP address of the target.',
            },
            description: { type: 'string', maxLength: 2000 },
          },
        },
        response: { 201: { $ref: 'Target#' }, ...errorResponses(400, 401, 403, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      const { name, address, description = '' } = request.body;
      const target = await vault.createTarget({ name, address, description }, getActor(request));
      return reply.status(201).send(target);
    },
  );

  app.get(
    '/targets',
    {
      onRequest: requirePermission('targets.read'),
      schema: {
        summary: 'List the target systems',
        tags: ['targets'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['targets'],
            properties: { targets: { type: 'array', items: { $ref: 'Target#' } } },
          },
          ...errorResponses(401, 403, 500),
        },
      },
    },
    async () => ({ targets: await vault.listTargets() }),
  );

  app.get<{ Params: TargetParams }>(
    '/targets/:targetId',
    {
      onRequest: requirePermission('targets.read'),
      schema: {
        summary: 'Show a target system',
        tags: ['targets'],
        security: bearerSecurity,
        params: uuidParams('targetId'),
        response: { 200: { $ref: 'Target#' }, ...errorResponses(400, 401, 403, 404, 500) },
      },
    },
    async (request) => vault.getTarget(request.params.targetId),
  );
}
