import type { FastifyInstance } from 'fastify';

import type { BreakGlassService } from '../../access/break-glass.js';
import type { AccessRequestService } from '../../access/requests.js';
import type { NewAccessRequest } from '../../access/types.js';
import { getActor, requirePermission } from '../authentication.js';
import { accessRequestBody } from '../access-schemas.js';
import { bearerSecurity, errorResponses, uuidParams } from '../schemas.js';

interface DecisionBody {
  comment?: string;
}

const decisionBody = {
  type: 'object',
  additionalProperties: false,
  properties: { comment: { type: 'string', maxLength: 500 } },
};

const requestResponse = {
  200: { $ref: 'AccessRequest#' },
  ...errorResponses(400, 401, 403, 404, 409, 500, 503),
};

/** Registers the access request routes. The caller registers them inside the authenticated scope. */
export function registerAccessRequestRoutes(
  app: FastifyInstance,
  requests: AccessRequestService,
): void {
  app.post<{ Body: NewAccessRequest }>(
    '/access-requests',
    {
      onRequest: requirePermission('access.request'),
      schema: {
        summary: 'Request time-limited access to an account, with a reason',
        tags: ['access'],
        security: bearerSecurity,
        body: accessRequestBody,
        response: {
          201: { $ref: 'AccessRequest#' },
          ...errorResponses(400, 401, 403, 404, 409, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const created = await requests.create(request.body, getActor(request));
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/access-requests',
    {
      onRequest: requirePermission('access.read'),
      schema: {
        summary: 'List access requests: operators see their own, approvers those they may decide',
        tags: ['access'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['requests'],
            properties: { requests: { type: 'array', items: { $ref: 'AccessRequest#' } } },
          },
          ...errorResponses(401, 403, 500),
        },
      },
    },
    async (request) => ({ requests: await requests.list(getActor(request)) }),
  );

  app.get<{ Params: { requestId: string } }>(
    '/access-requests/:requestId',
    {
      onRequest: requirePermission('access.read'),
      schema: {
        summary: 'Show an access request with its decisions',
        tags: ['access'],
        security: bearerSecurity,
        params: uuidParams('requestId'),
        response: requestResponse,
      },
    },
    async (request) => requests.get(request.params.requestId, getActor(request)),
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post<{ Params: { requestId: string }; Body: DecisionBody | undefined }>(
      `/access-requests/:requestId/${decision}`,
      {
        onRequest: requirePermission('access.approve'),
        schema: {
          summary:
            decision === 'approve'
              ? 'Approve an access request of another user, with a comment'
              : 'Reject an access request of another user, with a comment',
          tags: ['access'],
          security: bearerSecurity,
          params: uuidParams('requestId'),
          body: decisionBody,
          response: requestResponse,
        },
      },
      async (request) => {
        const comment = request.body?.comment?.trim() ?? '';
        const actor = getActor(request);
        return decision === 'approve'
          ? requests.approve(request.params.requestId, comment, actor)
          : requests.reject(request.params.requestId, comment, actor);
      },
    );
  }

  app.post<{ Params: { requestId: string } }>(
    '/access-requests/:requestId/cancel',
    {
      onRequest: requirePermission('access.request'),
      schema: {
        summary: 'Cancel a pending access request of your own',
        tags: ['access'],
        security: bearerSecurity,
        params: uuidParams('requestId'),
        response: requestResponse,
      },
    },
    async (request) => requests.cancel(request.params.requestId, getActor(request)),
  );
}

/** Registers the break-glass routes. The caller registers them inside the authenticated scope. */
export function registerBreakGlassRoutes(
  app: FastifyInstance,
  breakGlass: BreakGlassService,
): void {
  app.post<{ Body: NewAccessRequest }>(
    '/break-glass',
    {
      onRequest: requirePermission('breakglass'),
      schema: {
        summary: 'Request break-glass reveal access to an account; raises an alert',
        tags: ['access'],
        security: bearerSecurity,
        body: accessRequestBody,
        response: {
          201: { $ref: 'AccessRequest#' },
          ...errorResponses(400, 401, 403, 404, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const created = await breakGlass.request(request.body, getActor(request));
      return reply.status(201).send(created);
    },
  );

  app.post<{ Params: { requestId: string } }>(
    '/break-glass/:requestId/confirm',
    {
      onRequest: requirePermission('breakglass'),
      schema: {
        summary: 'Confirm the break-glass request of another administrator; raises an alert',
        tags: ['access'],
        security: bearerSecurity,
        params: uuidParams('requestId'),
        response: requestResponse,
      },
    },
    async (request) => breakGlass.confirm(request.params.requestId, getActor(request)),
  );
}
