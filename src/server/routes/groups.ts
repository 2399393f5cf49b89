import type { FastifyInstance } from 'fastify';

import type { GroupAdminService } from '../../access/groups.js';
import { getActor, requirePermission } from '../authentication.js';
import {
  bearerSecurity,
  errorResponses,
  printableText,
  uuidPairParams,
  uuidParams,
} from '../schemas.js';

interface MemberParams {
  groupId: string;
  userId: string;
}

/** Registers the group routes. The caller registers them inside the authenticated scope. */
export function registerGroupRoutes(app: FastifyInstance, groups: GroupAdminService): void {
  app.get(
    '/groups',
    {
      onRequest: requirePermission('people.read'),
      schema: {
        summary: 'List the groups with their members',
        tags: ['groups'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['groups'],
            properties: { groups: { type: 'array', items: { $ref: 'Group#' } } },
          },
          ...errorResponses(401, 403, 500),
        },
      },
    },
    async () => ({ groups: await groups.listGroups() }),
  );

  app.post<{ Body: { name: string; description?: string } }>(
    '/groups',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Create a group',
        tags: ['groups'],
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: printableText(1, 200),
            description: { type: 'string', maxLength: 2000 },
          },
        },
        response: { 201: { $ref: 'Group#' }, ...errorResponses(400, 401, 403, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      const { name, description = '' } = request.body;
      const group = await groups.createGroup({ name, description }, getActor(request));
      return reply.status(201).send(group);
    },
  );

  app.get<{ Params: { groupId: string } }>(
    '/groups/:groupId',
    {
      onRequest: requirePermission('people.read'),
      schema: {
        summary: 'Show a group with its members',
        tags: ['groups'],
        security: bearerSecurity,
        params: uuidParams('groupId'),
        response: { 200: { $ref: 'Group#' }, ...errorResponses(400, 401, 403, 404, 500) },
      },
    },
    async (request) => groups.getGroup(request.params.groupId),
  );

  app.put<{ Params: MemberParams }>(
    '/groups/:groupId/members/:userId',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Add a user to a group',
        tags: ['groups'],
        security: bearerSecurity,
        params: uuidPairParams('groupId', 'userId'),
        response: { 200: { $ref: 'Group#' }, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) =>
      groups.addMember(request.params.groupId, request.params.userId, getActor(request)),
  );

  app.delete<{ Params: MemberParams }>(
    '/groups/:groupId/members/:userId',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Remove a user from a group',
        tags: ['groups'],
        security: bearerSecurity,
        params: uuidPairParams('groupId', 'userId'),
        response: { 200: { $ref: 'Group#' }, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) =>
      groups.removeMember(request.params.groupId, request.params.userId, getActor(request)),
  );
}
