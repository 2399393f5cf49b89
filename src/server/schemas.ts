import type { FastifyInstance } from 'fastify';

/**
 * JSON schemas shared by the routes. Each has an `$id`, so routes refer to it as `{ $ref: 'Name#' }`
 * and the OpenAPI document lists it once under components.schemas.
 */

/** The OpenAPI security requirement of every route that needs a bearer token. */
export const bearerSecurity = [{ bearerAuth: [] }];

/** Rejects C0 control characters and DEL in names that appear in logs and terminals. */
export const PRINTABLE = '^[^\\u0000-\\u001f\\u007f]*$';

const scalarValue = { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] };

const errorBody = {
  $id: 'ErrorBody',
  type: 'object',
  description: 'An error with a stable code and a message that names the fault and the fix.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', example: 'SR_VALIDATION_FAILED' },
        message: { type: 'string' },
      },
    },
  },
};

const target = {
  $id: 'Target',
  type: 'object',
  required: ['id', 'name', 'address', 'description', 'createdAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    address: { type: 'string' },
    description: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
};

const account = {
  $id: 'Account',
  type: 'object',
  description: 'A privileged account on a target, without its secret.',
  required: [
    'id',
    'targetId',
    'username',
    'description',
    'secretVersion',
    'secretType',
    'createdAt',
    'updatedAt',
  ],
  properties: {
    id: { type: 'string', format: 'uuid' },
    targetId: { type: 'string', format: 'uuid' },
    username: { type: 'string' },
    description: { type: 'string' },
    secretVersion: { type: 'integer' },
    secretType: { type: 'string', enum: ['password', 'ssh-private-key'] },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    rotationRequired: {
      type: 'boolean',
      description: 'True once a checkout of the account ended, until the secret is replaced.',
    },
  },
};

const auditEvent = {
  $id: 'AuditEvent',
  type: 'object',
  required: [
    'seq',
    'occurredAt',
    'actor',
    'action',
    'objectType',
    'objectId',
    'outcome',
    'reason',
    'clientAddress',
    'details',
  ],
  properties: {
    seq: { type: 'integer' },
    occurredAt: { type: 'string', format: 'date-time' },
    actor: {
      type: 'string',
      description: 'The user name, or for a failed login the name that was tried.',
    },
    action: { type: 'string', example: 'auth.login' },
    objectType: { type: 'string' },
    objectId: { type: 'string' },
    outcome: { type: 'string', enum: ['success', 'failure'] },
    reason: { type: 'string', description: 'The reason the user gave, for example for a reveal.' },
    clientAddress: { type: 'string' },
    details: { type: 'object', additionalProperties: scalarValue },
  },
};

const healthReport = {
  $id: 'HealthReport',
  type: 'object',
  required: ['healthy', 'activeProvider', 'providers', 'database'],
  properties: {
    healthy: { type: 'boolean' },
    activeProvider: { type: 'string', enum: ['file', 'hsm'] },
    providers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind', 'ready', 'keyId', 'detail'],
        properties: {
          kind: { type: 'string', enum: ['file', 'hsm'] },
          ready: { type: 'boolean' },
          keyId: { type: 'string' },
          detail: { type: 'object', additionalProperties: scalarValue },
        },
      },
    },
    database: {
      type: 'object',
      required: ['dialect', 'reachable'],
      properties: {
        dialect: { type: 'string', enum: ['sqlite', 'postgres'] },
        reachable: { type: 'boolean' },
      },
    },
  },
};

/** Adds the shared schemas to the instance. Call it before registering routes. */
export function addSharedSchemas(app: FastifyInstance): void {
  for (const schema of [errorBody, target, account, auditEvent, healthReport]) {
    app.addSchema(schema);
  }
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'SR_VALIDATION_FAILED or SR_USER_INVALID: the request is invalid; the message names the field.',
  401: 'SR_AUTH_REQUIRED or SR_AUTH_FAILED: no valid bearer token, or wrong credentials.',
  403: 'SR_FORBIDDEN, SR_TOTP_ENROLMENT_REQUIRED or SR_ACCESS_NOT_GRANTED: the role, the session or the missing grant does not allow the action.',
  404: 'SR_NOT_FOUND: the object does not exist.',
  409: 'SR_CONFLICT or a state conflict such as SR_ACCOUNT_CHECKED_OUT: the message names it.',
  429: 'SR_RATE_LIMITED: too many requests from this client; retry after the Retry-After header.',
  500: 'SR_INTERNAL or another server-side error; the service log has the details.',
  503: 'SR_AUDIT_WRITE_FAILED, a database or an HSM error: the action was not done.',
};

/** Response schemas for the given error statuses, each an ErrorBody. */
export function errorResponses(...statuses: number[]): Record<number, object> {
  const responses: Record<number, object> = {};
  for (const status of statuses) {
    responses[status] = { description: ERROR_DESCRIPTIONS[status] ?? 'Error.', $ref: 'ErrorBody#' };
  }
  return responses;
}

/** Path parameters of a route whose parameters are all UUIDs. */
export function uuidPairParams(...names: string[]): object {
  return {
    type: 'object',
    required: names,
    additionalProperties: false,
    properties: Object.fromEntries(names.map((name) => [name, { type: 'string', format: 'uuid' }])),
  };
}

/** Path parameters of a route with a single UUID parameter. */
export function uuidParams(name: string): object {
  return {
    type: 'object',
    required: [name],
    additionalProperties: false,
    properties: { [name]: { type: 'string', format: 'uuid' } },
  };
}

/** Returns the schema of a short single-line text such as a name or an address. */
export function printableText(minLength: number, maxLength: number): object {
  return { type: 'string', minLength, maxLength, pattern: PRINTABLE };
}
