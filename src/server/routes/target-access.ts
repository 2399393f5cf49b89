import type { FastifyInstance } from 'fastify';

import type { GroupAdminService } from '../../access/groups.js';
import type { PolicyInput } from '../../access/types.js';
import { getActor, requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses, uuidPairParams, uuidParams } from '../schemas.js';

interface GrantParams {
  targetId: string;
  groupId: string;
}

const grantList = {
  200: {
    description: 'The ids of the groups whose members may request access to the target.',
    type: 'object',
    required: ['groupIds'],
    properties: { groupIds: { type: 'array', items: { type: 'string', format: 'uuid' } } },
  },
};

/**
 * Registers the grants and the access policy of a target. The caller registers them inside the
 * authenticated scope.
 */
export function registerTargetAccessRoutes(app: FastifyInstance, groups: GroupAdminService): void {
  app.get<{ Params: { targetId: string } }>(
    '/targets/:targetId/grants',
    {
      onRequest: requirePermission('people.read'),
      schema: {
        summary: 'List the groups granted a target',
        tags: ['grants'],
        security: bearerSecurity,
        params: uuidParams('targetId'),
        response: { ...grantList, ...errorResponses(400, 401, 403, 404, 500) },
      },
    },
    async (request) => ({ groupIds: await groups.listGrants(request.params.targetId) }),
  );

  app.put<{ Params: GrantParams }>(
    '/targets/:targetId/grants/:groupId',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Let the members of a group request access to the accounts of a target',
        tags: ['grants'],
        security: bearerSecurity,
        params: uuidPairParams('targetId', 'groupId'),
        response: { ...grantList, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => {
      const { targetId, groupId } = request.params;
      return { groupIds: await groups.grantTarget(targetId, groupId, getActor(request)) };
    },
  );

  app.delete<{ Params: GrantParams }>(
    '/targets/:targetId/grants/:groupId',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Revoke the grant of a target to a group',
        tags: ['grants'],
        security: bearerSecurity,
        params: uuidPairParams('targetId', 'groupId'),
        response: { ...grantList, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => {
      const { targetId, groupId } = request.params;
      return { groupIds: await groups.revokeGrant(targetId, groupId, getActor(request)) };
    },
  );

  app.get<{ Params: { targetId: string } }>(
    '/targets/:targetId/policy',
    {
      onRequest: requirePermission('targets.read'),
      schema: {
        summary: 'Show the access policy of a target',
        tags: ['grants'],
        security: bearerSecurity,
        params: uuidParams('targetId'),
        response: { 200: { $ref: 'AccessPolicy#' }, ...errorResponses(400, 401, 403, 404, 500) },
      },
    },
    async (request) => groups.getPolicy(request.params.targetId),
  );

  app.put<{ Params: { targetId: string }; Body: PolicyInput }>(
    '/targets/:targetId/policy',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Set who approves access to the accounts of a target, how many, and for how long',
        tags: ['grants'],
        security: bearerSecurity,
        params: uuidParams('targetId'),
        body: {
          type: 'object',
          required: ['approverGroupId'],
          additionalProperties: false,
          properties: {
            approverGroupId: { type: 'string', format: 'uuid' },
            approvalsRequired: { type: 'integer', minimum: 1, default: 1 },
            maxDurationSeconds: {
              type: 'integer',
              minimum: 60,
              description:
                'Maximum access period of a request in seconds, 28800 (8 hours) by default.',
            },
          },
        },
        response: {
          200: { $ref: 'AccessPolicy#' },
          ...errorResponses(400, 401, 403, 404, 500, 503),
        },
      },
    },
    async (request) => groups.setPolicy(request.params.targetId, request.body, getActor(request)),
  );
}
