import type { FastifyInstance } from 'fastify';

import {
  AUDIT_LIST_DEFAULT_LIMIT,
  AUDIT_LIST_MAX_LIMIT,
  listAuditEvents,
} from '../../audit/query.js';
import type { ChainReport } from '../../audit/chain/report.js';
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

/** Verifies the audit chain; the service binds it to the store and the checkpoint keys. */
export interface AuditChainVerifier {
  verify(): Promise<ChainReport>;
}

const checkpointSchema = {
  type: 'object',
  nullable: true,
  required: ['id', 'eventSeq', 'createdAt', 'provider', 'keyId', 'algorithm', 'macValid'],
  properties: {
    id: { type: 'integer' },
    eventSeq: { type: 'integer', description: 'The last event that the checkpoint covers.' },
    createdAt: { type: 'string', format: 'date-time' },
    provider: { type: 'string', enum: ['file', 'hsm'] },
    keyId: { type: 'string', description: 'The HSM key label, or the id of the derived file key.' },
    algorithm: { type: 'string', enum: ['hmac-sha256', 'aes-cmac'] },
    macValid: { type: 'boolean' },
    vouchedByRolloverId: {
      type: 'integer',
      description: 'Set when the key is retired and this key rollover vouches for the checkpoint.',
    },
  },
} as const;

const rolloverSchema = {
  type: 'object',
  required: [
    'id',
    'eventSeq',
    'createdAt',
    'oldProvider',
    'oldKeyId',
    'newProvider',
    'newKeyId',
    'status',
    'vouchedCheckpointId',
    'vouchedRolloverId',
    'digestMatches',
  ],
  properties: {
    id: { type: 'integer' },
    eventSeq: { type: 'integer', description: 'The chain head that both keys MAC.' },
    createdAt: { type: 'string', format: 'date-time' },
    oldProvider: { type: 'string', enum: ['file', 'hsm'] },
    oldKeyId: { type: 'string' },
    newProvider: { type: 'string', enum: ['file', 'hsm'] },
    newKeyId: { type: 'string' },
    status: { type: 'string', enum: ['verified', 'vouched', 'forged', 'key-unavailable'] },
    vouchedCheckpointId: {
      type: 'integer',
      description: 'The last checkpoint id that the rollover vouches for, or 0 for none.',
    },
    vouchedRolloverId: {
      type: 'integer',
      description: 'The last earlier rollover id that the rollover vouches for, or 0 for none.',
    },
    digestMatches: { type: 'boolean' },
  },
} as const;

const retiredKeySchema = {
  type: 'object',
  required: [
    'provider',
    'keyId',
    'checkpointCount',
    'firstSeq',
    'lastSeq',
    'rolloverId',
    'rolloverSeq',
    'message',
  ],
  properties: {
    provider: { type: 'string', enum: ['file', 'hsm'] },
    keyId: { type: 'string' },
    checkpointCount: { type: 'integer' },
    firstSeq: { type: 'integer' },
    lastSeq: { type: 'integer' },
    rolloverId: { type: 'integer' },
    rolloverSeq: { type: 'integer' },
    message: { type: 'string' },
  },
} as const;

const findingSchema = {
  type: 'object',
  required: ['kind', 'seq', 'message'],
  properties: {
    kind: {
      type: 'string',
      enum: [
        'changed',
        'deleted',
        'inserted',
        'truncated',
        'rewritten',
        'checkpoint-forged',
        'checkpoint-key-unavailable',
        'rollover-forged',
        'rollover-key-unavailable',
        'rollover-mismatch',
      ],
    },
    seq: { type: 'integer', description: 'The first seq concerned.' },
    lastSeq: { type: 'integer', description: 'The last seq of a range.' },
    checkpointId: { type: 'integer' },
    rolloverId: { type: 'integer' },
    message: { type: 'string' },
  },
} as const;

/**
 * Registers GET /audit/chain: verifies the whole chain and every checkpoint and returns the status.
 * NOTE: each request walks every event, so its time grows with the length of the trail.
 */
export function registerAuditChainRoute(app: FastifyInstance, chain: AuditChainVerifier): void {
  app.get(
    '/audit/chain',
    {
      onRequest: requirePermission('audit.read'),
      schema: {
        summary: 'Verify the audit hash chain and its checkpoints, and return its status',
        tags: ['audit'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: [
              'intact',
              'eventCount',
              'lastEventSeq',
              'headSeq',
              'verifiedThroughSeq',
              'checkpointedThroughSeq',
              'checkpointCount',
              'lastCheckpoint',
              'findings',
              'findingsOmitted',
              'rollovers',
              'retiredKeys',
            ],
            properties: {
              intact: { type: 'boolean' },
              eventCount: { type: 'integer' },
              lastEventSeq: { type: 'integer' },
              headSeq: { type: 'integer' },
              verifiedThroughSeq: { type: 'integer' },
              checkpointedThroughSeq: { type: 'integer' },
              checkpointCount: { type: 'integer' },
              lastCheckpoint: checkpointSchema,
              findings: { type: 'array', items: findingSchema },
              findingsOmitted: { type: 'integer' },
              rollovers: { type: 'array', items: rolloverSchema },
              retiredKeys: { type: 'array', items: retiredKeySchema },
            },
          },
          ...errorResponses(401, 403, 500, 503),
        },
      },
    },
    async () => chain.verify(),
  );
}
