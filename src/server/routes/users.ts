import type { FastifyInstance } from 'fastify';

import { PASSWORD_MAX_LENGTH } from '../../auth/passwords.js';
import type { UserAdminService } from '../../auth/user-admin.js';
import { ROLES, USERNAME_MAX_LENGTH } from '../../auth/users.js';
import { getActor, requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses, uuidParams } from '../schemas.js';

interface NewUserBody {
  username: string;
  password: string;
  role: string;
}

/** Registers the user administration routes. The caller registers them inside the authenticated scope. */
export function registerUserRoutes(app: FastifyInstance, users: UserAdminService): void {
  const userResponse = { 200: { $ref: 'User#' }, ...errorResponses(400, 401, 403, 404, 500, 503) };

  app.get(
    '/users',
    {
      onRequest: requirePermission('people.read'),
      schema: {
        summary: 'List the users with their roles, TOTP state and locks',
        tags: ['users'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['users'],
            properties: { users: { type: 'array', items: { $ref: 'User#' } } },
          },
          ...errorResponses(401, 403, 500),
        },
      },
    },
    async () => ({ users: await users.list() }),
  );

  app.post<{ Body: NewUserBody }>(
    '/users',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Create a user; one whose role requires TOTP enrols it at the first login',
        tags: ['users'],
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['username', 'password', 'role'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1, maxLength: USERNAME_MAX_LENGTH },
            password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH },
            role: { type: 'string', enum: [...ROLES] },
          },
        },
        response: { 201: { $ref: 'User#' }, ...errorResponses(400, 401, 403, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      const actor = getActor(request);
      const created = await users.create(request.body, actor);
      return reply.status(201).send(created);
    },
  );

  app.get<{ Params: { userId: string } }>(
    '/users/:userId',
    {
      onRequest: requirePermission('people.read'),
      schema: {
        summary: 'Show a user',
        tags: ['users'],
        security: bearerSecurity,
        params: uuidParams('userId'),
        response: userResponse,
      },
    },
    async (request) => users.get(request.params.userId),
  );

  app.post<{ Params: { userId: string } }>(
    '/users/:userId/unlock',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Clear the failed-login count and lock of a user',
        tags: ['users'],
        security: bearerSecurity,
        params: uuidParams('userId'),
        response: userResponse,
      },
    },
    async (request) => users.unlock(request.params.userId, getActor(request)),
  );

  app.post<{ Params: { userId: string } }>(
    '/users/:userId/reset-totp',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Delete the TOTP secret of a user and end their sessions; they enrol again',
        tags: ['users'],
        security: bearerSecurity,
        params: uuidParams('userId'),
        response: userResponse,
      },
    },
    async (request) => users.resetTotp(request.params.userId, getActor(request)),
  );

  for (const [path, disabled, summary] of [
    ['disable', true, 'Disable a user and end all of their sessions; they cannot log in'],
    ['enable', false, 'Enable a disabled user; they log in again'],
  ] as const) {
    app.post<{ Params: { userId: string } }>(
      `/users/:userId/${path}`,
      {
        onRequest: requirePermission('people.manage'),
        schema: {
          summary,
          tags: ['users'],
          security: bearerSecurity,
          params: uuidParams('userId'),
          response: { 200: { $ref: 'User#' }, ...errorResponses(401, 403, 404, 409, 500, 503) },
        },
      },
      async (request) => users.setDisabled(request.params.userId, disabled, getActor(request)),
    );
  }

  app.put<{ Params: { userId: string }; Body: { role: string } }>(
    '/users/:userId/role',
    {
      onRequest: requirePermission('people.manage'),
      schema: {
        summary: 'Change the role of a user and end their sessions',
        tags: ['users'],
        security: bearerSecurity,
        params: uuidParams('userId'),
        body: {
          type: 'object',
          required: ['role'],
          additionalProperties: false,
          properties: { role: { type: 'string', enum: [...ROLES] } },
        },
        response: {
          200: { $ref: 'User#' },
          ...errorResponses(400, 401, 403, 404, 409, 500, 503),
        },
      },
    },
    async (request) => users.setRole(request.params.userId, request.body.role, getActor(request)),
  );
}
