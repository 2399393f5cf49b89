import type { FastifyInstance } from 'fastify';

import { PASSWORD_MAX_LENGTH } from '../../auth/passwords.js';
import type { AuthService } from '../../auth/service.js';
import { ROLES, USERNAME_MAX_LENGTH } from '../../auth/users.js';
import { getPrincipal } from '../authentication.js';
import { bearerSecurity, errorResponses } from '../schemas.js';

interface LoginBody {
  username: string;
  password: string;
}

/** Registers POST /auth/login, which needs no token. */
export function registerLoginRoute(app: FastifyInstance, auth: AuthService): void {
  app.post<{ Body: LoginBody }>(
    '/auth/login',
    {
      schema: {
        summary: 'Log in with a user name and password and get a bearer token',
        tags: ['auth'],
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            // Only lengths are checked here, so that a login with a malformed name is still audited.
            username: { type: 'string', minLength: 1, maxLength: USERNAME_MAX_LENGTH },
            password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH },
          },
        },
        response: {
          200: {
            description: 'The token to send as "Authorization: Bearer <token>" until it expires.',
            headers: { 'Cache-Control': { type: 'string', description: 'Always no-store.' } },
            type: 'object',
            required: ['token', 'expiresAt'],
            properties: {
              token: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
            },
          },
          ...errorResponses(400, 401, 500, 503),
        },
      },
    },
    async (request) => {
      const { username, password } = request.body;
      const result = await auth.login({ username, password, clientAddress: request.ip });
      return { token: result.token, expiresAt: result.expiresAt };
    },
  );
}

/** Registers POST /auth/logout and GET /me. The caller registers them inside the authenticated scope. */
export function registerSessionRoutes(app: FastifyInstance, auth: AuthService): void {
  app.post(
    '/auth/logout',
    {
      schema: {
        summary: 'End the session of the bearer token',
        tags: ['auth'],
        security: bearerSecurity,
        response: {
          204: { description: 'The token is no longer valid.', type: 'null' },
          ...errorResponses(401, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const { user, token } = getPrincipal(request);
      await auth.logout(token, user, request.ip);
      return reply.status(204).send();
    },
  );

  app.get(
    '/me',
    {
      schema: {
        summary: 'Show the user of the bearer token',
        tags: ['auth'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['id', 'username', 'role', 'sessionExpiresAt'],
            properties: {
              id: { type: 'string', format: 'uuid' },
              username: { type: 'string' },
              role: { type: 'string', enum: [...ROLES] },
              sessionExpiresAt: { type: 'string', format: 'date-time' },
            },
          },
          ...errorResponses(401, 500),
        },
      },
    },
    async (request) => getPrincipal(request).user,
  );
}
