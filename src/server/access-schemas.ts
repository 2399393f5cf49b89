import type { FastifyInstance } from 'fastify';

/** Shared schemas of users, groups, policies and access requests. */

const user = {
  $id: 'User',
  type: 'object',
  required: ['id', 'username', 'role', 'disabled', 'createdAt', 'totp', 'totpRequired'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    username: { type: 'string' },
    role: { type: 'string' },
    disabled: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    totp: {
      type: 'string',
      enum: ['enrolled', 'pending', 'none'],
      description: 'Whether the user has a confirmed TOTP second factor.',
    },
    totpRequired: { type: 'boolean', description: 'Whether the role requires TOTP at login.' },
    lockedUntil: {
      type: 'string',
      format: 'date-time',
      description: 'Present while failed logins have locked the user.',
    },
  },
};

const group = {
  $id: 'Group',
  type: 'object',
  required: ['id', 'name', 'description', 'createdAt', 'memberIds'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    description: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    memberIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
  },
};

const policy = {
  $id: 'AccessPolicy',
  type: 'object',
  required: ['targetId', 'approverGroupId', 'approvalsRequired', 'maxDurationSeconds', 'updatedAt'],
  properties: {
    targetId: { type: 'string', format: 'uuid' },
    approverGroupId: { type: 'string', format: 'uuid' },
    approvalsRequired: { type: 'integer' },
    maxDurationSeconds: { type: 'integer' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

const accessRequest = {
  $id: 'AccessRequest',
  type: 'object',
  required: [
    'id',
    'kind',
    'accountId',
    'targetId',
    'requesterId',
    'reason',
    'durationSeconds',
    'approvalsRequired',
    'status',
    'createdAt',
    'decisions',
  ],
  properties: {
    id: { type: 'string', format: 'uuid' },
    kind: { type: 'string', enum: ['standard', 'break-glass'] },
    accountId: { type: 'string', format: 'uuid' },
    targetId: { type: 'string', format: 'uuid' },
    requesterId: { type: 'string', format: 'uuid' },
    reason: { type: 'string' },
    durationSeconds: { type: 'integer' },
    approvalsRequired: { type: 'integer' },
    status: {
      type: 'string',
      enum: ['pending', 'approved', 'rejected', 'cancelled', 'expired'],
      description: 'expired is an approved request whose expiresAt has passed.',
    },
    createdAt: { type: 'string', format: 'date-time' },
    decidedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    decisions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['approverId', 'decision', 'comment', 'decidedAt'],
        properties: {
          approverId: { type: 'string', format: 'uuid' },
          decision: { type: 'string', enum: ['approve', 'reject'] },
          comment: { type: 'string' },
          decidedAt: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
};

/** Adds the schemas to the instance. Call it before registering routes. */
export function addAccessSchemas(app: FastifyInstance): void {
  for (const schema of [user, group, policy, accessRequest]) {
    app.addSchema(schema);
  }
}

/** Body of a request that gives a reason, such as a reveal or a checkout. */
export const reasonBody = {
  type: 'object',
  required: ['reason'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 3, maxLength: 500 } },
};

/** Body of an access or break-glass request. */
export const accessRequestBody = {
  type: 'object',
  required: ['accountId', 'reason', 'durationSeconds'],
  additionalProperties: false,
  properties: {
    accountId: { type: 'string', format: 'uuid' },
    reason: { type: 'string', minLength: 3, maxLength: 500 },
    durationSeconds: {
      type: 'integer',
      minimum: 60,
      description: 'Length of the access in seconds, at most what the policy allows.',
    },
  },
};

/** Response of a reveal or checkout. */
export const secretResponse = {
  description: 'The secret.',
  headers: { 'Cache-Control': { type: 'string', description: 'Always no-store.' } },
  type: 'object',
  required: ['secret', 'secretVersion'],
  properties: {
    secret: { type: 'string' },
    secretVersion: { type: 'integer' },
    expiresAt: {
      type: 'string',
      format: 'date-time',
      description: 'For a checkout: when it ends unless checked in before.',
    },
  },
};
