import type { FastifyInstance } from 'fastify';

import type { TotpEnrolmentService } from '../../auth/enrolment.js';
import { PASSWORD_MAX_LENGTH } from '../../auth/passwords.js';
import type { AuthService } from '../../auth/service.js';
import { assertTotpCodeShape } from '../../auth/totp.js';
import { ROLES, USERNAME_MAX_LENGTH } from '../../auth/users.js';
import { getPrincipal } from '../authentication.js';
import { rateLimitedRoute, type RequestRateLimit } from '../rate-limit.js';
import { bearerSecurity, errorResponses } from '../schemas.js';

interface LoginBody {
  username: string;
  password: string;
  totpCode?: string;
}

/** How many logins one client address may send per window. */
export type LoginRateLimit = RequestRateLimit;

/** 10 logins a minute per client address, enough for a person who mistypes a few times. */
export const DEFAULT_LOGIN_RATE_LIMIT: LoginRateLimit = { max: 10, windowSeconds: 60 };

/** Registers POST /auth/login, which needs no token and is rate-limited per client address. */
export function registerLoginRoute(
  app: FastifyInstance,
  auth: AuthService,
  rateLimit: LoginRateLimit,
): void {
  app.post<{ Body: LoginBody }>(
    '/auth/login',
    {
      config: rateLimitedRoute(rateLimit, 'login requests'),
      schema: {
        summary: 'Log in with a user name, password and TOTP code and get a bearer token',
        description:
          'A user whose role requires TOTP and who has not enrolled it gets a session with scope "enrolment", which may only call the TOTP enrolment routes.',
        tags: ['auth'],
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            // Only lengths are checked here, so that a login with a malformed name is still audited.
            username: { type: 'string', minLength: 1, maxLength: USERNAME_MAX_LENGTH },
            password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_LENGTH },
            totpCode: {
              type: 'string',
              maxLength: 16,
              description: 'The 6-digit code of the authenticator app, once TOTP is enrolled.',
            },
          },
        },
        response: {
          200: {
            description: 'The token to send as "Authorization: Bearer <token>" until it expires.',
            headers: { 'Cache-Control': { type: 'string', description: 'Always no-store.' } },
            type: 'object',
            required: ['token', 'expiresAt', 'scope'],
            properties: {
              token: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
              scope: { type: 'string', enum: ['full', 'enrolment'] },
            },
          },
          ...errorResponses(400, 401, 429, 500, 503),
        },
      },
    },
    async (request) => {
      const { username, password, totpCode } = request.body;
      const result = await auth.login({
        username,
        password,
        totpCode,
        clientAddress: request.ip,
      });
      return { token: result.token, expiresAt: result.expiresAt, scope: result.scope };
    },
  );
}

/**
 * Registers POST /auth/logout, GET /me and the TOTP enrolment routes. The caller registers them
 * inside the authenticated scope.
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  auth: AuthService,
  enrolment: TotpEnrolmentService,
): void {
  app.post(
    '/auth/logout',
    {
      config: { allowEnrolmentSession: true },
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
      config: { allowEnrolmentSession: true },
      schema: {
        summary: 'Show the user of the bearer token',
        tags: ['auth'],
        security: bearerSecurity,
        response: {
          200: {
            type: 'object',
            required: ['id', 'username', 'role', 'sessionExpiresAt', 'sessionScope'],
            properties: {
              id: { type: 'string', format: 'uuid' },
              username: { type: 'string' },
              role: { type: 'string', enum: [...ROLES] },
              sessionExpiresAt: { type: 'string', format: 'date-time' },
              sessionScope: { type: 'string', enum: ['full', 'enrolment'] },
            },
          },
          ...errorResponses(401, 500),
        },
      },
    },
    async (request) => getPrincipal(request).user,
  );

  app.post(
    '/auth/totp/enrol',
    {
      config: { allowEnrolmentSession: true },
      schema: {
        summary: 'Start TOTP enrolment: returns a new secret and its otpauth URI, shown only once',
        tags: ['auth'],
        security: bearerSecurity,
        response: {
          200: {
            description:
              'Put the URI into an authenticator app (as a QR code) or type the secret, then confirm with a code.',
            type: 'object',
            required: ['otpauthUri', 'secret'],
            properties: { otpauthUri: { type: 'string' }, secret: { type: 'string' } },
          },
          ...errorResponses(401, 409, 500, 503),
        },
      },
    },
    async (request) => {
      const { user } = getPrincipal(request);
      return enrolment.begin({
        userId: user.id,
        username: user.username,
        clientAddress: request.ip,
      });
    },
  );

  app.post<{ Body: { code: string } }>(
    '/auth/totp/confirm',
    {
      config: { allowEnrolmentSession: true },
      schema: {
        summary: 'Confirm TOTP enrolment with a code; ends the sessions of the user',
        tags: ['auth'],
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['code'],
          additionalProperties: false,
          properties: { code: { type: 'string', minLength: 1, maxLength: 16 } },
        },
        response: {
          204: { description: 'Enrolled. Log in again with a code.', type: 'null' },
          ...errorResponses(400, 401, 409, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const { user } = getPrincipal(request);
      assertTotpCodeShape(request.body.code, 'body.code');
      await enrolment.confirm(
        { userId: user.id, username: user.username, clientAddress: request.ip },
        request.body.code,
      );
      return reply.status(204).send();
    },
  );
}
