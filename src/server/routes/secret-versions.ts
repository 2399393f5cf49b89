import type { FastifyInstance } from 'fastify';

import { StrongroomError } from '../../errors.js';
import { createSecretVersionService } from '../../vault/secret-versions.js';
import { SECRET_MAX_LENGTH, SECRET_TYPES, type SecretType } from '../../vault/secret-types.js';
import { getActor, requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses, uuidParams } from '../schemas.js';
import type { ServerDependencies } from '../server.js';

const REASON_MIN_LENGTH = 3;
const REASON_MAX_LENGTH = 500;

interface SecretVersionBody {
  secret: string;
  secretType?: SecretType;
  reason: string;
}

const secretVersion = {
  type: 'object',
  description: 'A version of the secret of an account, without the secret.',
  required: ['accountId', 'version', 'secretType', 'createdAt', 'createdBy', 'reason', 'current'],
  properties: {
    accountId: { type: 'string', format: 'uuid' },
    version: { type: 'integer' },
    secretType: { type: 'string', enum: [...SECRET_TYPES] },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: {
      type: 'string',
      description:
        'The user who stored the version; empty for secrets stored before versions were kept.',
    },
    reason: { type: 'string' },
    current: { type: 'boolean', description: 'Whether reveal returns this version.' },
  },
};

/** Registers the routes that list and add secret versions, inside the authenticated scope. */
export function registerSecretVersionRoutes(app: FastifyInstance, deps: ServerDependencies): void {
  const versions = createSecretVersionService({
    vault: deps.store.vault,
    secretVersions: deps.store.secretVersions,
    keyring: deps.keyring,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'secret-versions' }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  app.get<{ Params: { accountId: string } }>(
    '/accounts/:accountId/secret-versions',
    {
      onRequest: requirePermission('targets.read'),
      schema: {
        summary: 'List the versions of the secret of an account, without secrets',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('accountId'),
        response: {
          200: {
            type: 'object',
            required: ['versions'],
            properties: { versions: { type: 'array', items: secretVersion } },
          },
          ...errorResponses(400, 401, 403, 404, 500),
        },
      },
    },
    async (request) => ({ versions: await versions.listVersions(request.params.accountId) }),
  );

  app.post<{ Params: { accountId: string }; Body: SecretVersionBody }>(
    '/accounts/:accountId/secret-versions',
    {
      onRequest: requirePermission('secrets.update'),
      schema: {
        summary: 'Store a new secret for an account; it becomes the version that reveal returns',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('accountId'),
        body: {
          type: 'object',
          required: ['secret', 'reason'],
          additionalProperties: false,
          properties: {
            secret: { type: 'string', minLength: 1, maxLength: SECRET_MAX_LENGTH },
            secretType: {
              type: 'string',
              enum: [...SECRET_TYPES],
              description:
                'The type of the new secret; the type of the current version when missing.',
            },
            reason: { type: 'string', minLength: REASON_MIN_LENGTH, maxLength: REASON_MAX_LENGTH },
          },
        },
        response: {
          201: secretVersion,
          ...errorResponses(400, 401, 403, 404, 409, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const reason = request.body.reason.trim();
      if ([...reason].length < REASON_MIN_LENGTH) {
        throw new StrongroomError(
          'SR_VALIDATION_FAILED',
          `The field body.reason is too short: it must have at least ${REASON_MIN_LENGTH} characters besides leading and trailing blanks.`,
          { details: { field: 'body.reason' } },
        );
      }

      const { secret, secretType } = request.body;
      const created = await versions.setSecret(
        request.params.accountId,
        { secret, reason, ...(secretType === undefined ? {} : { secretType }) },
        getActor(request),
      );
      return reply.status(201).send(created);
    },
  );
}
