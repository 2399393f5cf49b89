import type { FastifyInstance } from 'fastify';

import {
  AUDIT_LIST_DEFAULT_LIMIT,
  AUDIT_LIST_MAX_LIMIT,
  listAuditEvents,
} from '../../audit/query.js';
import type { AuditRepository } from '../../store/repositories.js';
import { requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses } from '../schemas.js';

interface AuditQuery {
  afterSeq?: number;
  limit?: number;
  action?: string;
}

/** Registers GET /audit/events. The caller registers it inside the authenticated scope. */
export function registerAuditRoutes(
  app: FastifyInstance,
  repository: Pick<AuditRepository, 'listEvents'>,
): void {
  app.get<{ Querystring: AuditQuery }>(
    '/audit/events',
    {
      onRequest: requirePermission('audit.read'),
      schema: {
        summary: 'List audit events in sequence order; page with afterSeq',
        tags: ['audit'],
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            afterSeq: {
              type: 'integer',
              minimum: 0,
              description: 'Return only events after this sequence number.',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: AUDIT_LIST_MAX_LIMIT,
              default: AUDIT_LIST_DEFAULT_LIMIT,
            },
            action: {
              type: 'string',
              minLength: 1,
              maxLength: 100,
              pattern: '^[a-z0-9._-]+$',
              example: 'auth.login',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['events'],
            properties: { events: { type: 'array', items: { $ref: 'AuditEvent#' } } },
          },
          ...errorResponses(400, 401, 403, 500),
        },
      },
    },
    async (request) => ({ events: await listAuditEvents(repository, request.query) }),
  );
}
