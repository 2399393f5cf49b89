import type { FastifyInstance } from 'fastify';

import type { AccountUseService } from '../../access/account-use.js';
import type { AuditLog } from '../../audit/types.js';
import { SECRET_MAX_LENGTH, SECRET_TYPES, type SecretType } from '../../vault/secret-types.js';
import type { VaultService } from '../../vault/types.js';
import { auditRefusedReveal } from '../refused-reveal.js';
import { getActor, requirePermission } from '../authentication.js';
import { reasonBody, secretResponse } from '../access-schemas.js';
import { bearerSecurity, errorResponses, printableText, uuidParams } from '../schemas.js';

interface AccountBody {
  username: string;
  description?: string;
  secret: string;
  secretType?: SecretType;
}

interface ReasonBody {
  reason: string;
}

/** Registers the account routes. The caller registers them inside the authenticated scope. */
export function registerAccountRoutes(
  app: FastifyInstance,
  vault: VaultService,
  use: AccountUseService,
  audit: AuditLog,
): void {
  app.post<{ Params: { targetId: string }; Body: AccountBody }>(
    '/targets/:targetId/accounts',
    {
      onRequest: requirePermission('accounts.create'),
      schema: {
        summary: 'Store a privileged account of a target with its secret',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('targetId'),
        body: {
          type: 'object',
          required: ['username', 'secret'],
          additionalProperties: false,
          properties: {
            username: {
              ...printableText(1, 255),
              description: 'The account name on the target, such as root.',
            },
            description: { type: 'string', maxLength: 2000 },
            secret: { type: 'string', minLength: 1, maxLength: SECRET_MAX_LENGTH },
            secretType: {
              type: 'string',
              enum: [...SECRET_TYPES],
              description: 'password (the default) or ssh-private-key (OpenSSH format or PEM).',
            },
          },
        },
        response: {
          201: { $ref: 'Account#' },
          ...errorResponses(400, 401, 403, 404, 409, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const { username, description = '', secret, secretType } = request.body;
      const account = await vault.createAccount(
        request.params.targetId,
        { username, description, secret, ...(secretType === undefined ? {} : { secretType }) },
        getActor(request),
      );
      return reply.status(201).send(account);
    },
  );

  app.get<{ Params: { targetId: string } }>(
    '/targets/:targetId/accounts',
    {
      onRequest: requirePermission('targets.read'),
      schema: {
        summary: 'List the accounts of a target, without secrets',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('targetId'),
        response: {
          200: {
            type: 'object',
            required: ['accounts'],
            properties: { accounts: { type: 'array', items: { $ref: 'Account#' } } },
          },
          ...errorResponses(400, 401, 403, 404, 500),
        },
      },
    },
    async (request) => ({ accounts: await vault.listAccounts(request.params.targetId) }),
  );

  app.get<{ Params: { accountId: string } }>(
    '/accounts/:accountId',
    {
      onRequest: requirePermission('targets.read'),
      schema: {
        summary: 'Show the metadata of an account, without its secret',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('accountId'),
        response: { 200: { $ref: 'Account#' }, ...errorResponses(400, 401, 403, 404, 500) },
      },
    },
    async (request) => vault.getAccount(request.params.accountId),
  );

  app.post<{ Params: { accountId: string }; Body: ReasonBody }>(
    '/accounts/:accountId/reveal',
    {
      onRequest: requirePermission('secrets.reveal'),
      onResponse: auditRefusedReveal(audit),
      schema: {
        summary: 'Reveal the secret of an account within an active access grant, with a reason',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('accountId'),
        body: reasonBody,
        response: { 200: secretResponse, ...errorResponses(400, 401, 403, 404, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      const revealed = await use.reveal(
        request.params.accountId,
        request.body.reason,
        getActor(request),
      );
      return reply.header('Cache-Control', 'no-store').send(revealed);
    },
  );

  app.post<{ Params: { accountId: string }; Body: ReasonBody }>(
    '/accounts/:accountId/checkout',
    {
      onRequest: requirePermission('secrets.checkout'),
      onResponse: auditRefusedReveal(audit, 'account.checkout'),
      schema: {
        summary: 'Check an account out exclusively within an active grant and get its secret',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('accountId'),
        body: reasonBody,
        response: { 200: secretResponse, ...errorResponses(400, 401, 403, 404, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      const checkedOut = await use.checkout(
        request.params.accountId,
        request.body.reason,
        getActor(request),
      );
      return reply.header('Cache-Control', 'no-store').send(checkedOut);
    },
  );

  app.post<{ Params: { accountId: string } }>(
    '/accounts/:accountId/checkin',
    {
      onRequest: requirePermission('secrets.checkout'),
      schema: {
        summary: 'Check an account in; it is then marked for rotation',
        tags: ['accounts'],
        security: bearerSecurity,
        params: uuidParams('accountId'),
        response: {
          200: {
            type: 'object',
            required: ['rotationRequired'],
            properties: { rotationRequired: { type: 'boolean' } },
          },
          ...errorResponses(400, 401, 403, 404, 409, 500, 503),
        },
      },
    },
    async (request) => use.checkin(request.params.accountId, getActor(request)),
  );
}
