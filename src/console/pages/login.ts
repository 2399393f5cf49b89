import type { FastifyInstance, FastifyReply } from 'fastify';

import { rateLimitedRoute } from '../../server/rate-limit.js';
import type { LoginRateLimit } from '../../server/routes/auth.js';
import { renderPublicPage, type ConsoleContext, type FormError } from '../context.js';
import { readField, toFormError, type FormBody } from '../forms.js';
import { noticeFor } from '../notices.js';
import {
  assertCsrfToken,
  issueLoginToken,
  loginCookieName,
  readCookie,
  setSessionCookie,
} from '../session.js';

/**
 * Registers GET and POST /console/login. The login calls the same AuthService as
 * POST /api/v1/auth/login, with the same lockout, the same audit events and the same rate-limit
 * settings per client address, counted for this route on its own.
 */
export function registerLoginPages(
  app: FastifyInstance,
  context: ConsoleContext,
  rateLimit: LoginRateLimit,
): void {
  app.get('/login', async (request, reply) =>
    renderLogin(reply, context, { notice: noticeFor(request.query) }),
  );

  app.post<{ Body: FormBody }>(
    '/login',
    { config: rateLimitedRoute(rateLimit, 'login requests') },
    async (request, reply) => {
      const username =
        typeof request.body?.['username'] === 'string' ? request.body['username'] : '';
      try {
        assertCsrfToken(
          readCookie(request, loginCookieName(context.cookies)) ?? '',
          request.body?.['_csrf'],
        );
        const result = await context.services.auth.login({
          username: readField(request.body, 'username', { min: 1, max: 64 }),
          password: readField(request.body, 'password', { min: 1, max: 1024 }),
          totpCode: readField(request.body, 'totpCode', { max: 16 }) || undefined,
          clientAddress: request.ip,
        });

        setSessionCookie(reply, context.cookies, result.token, result.expiresAt);
        context.idle.touch(result.token, context.now());
        // A user who must still enrol TOTP gets a session that only reaches the enrolment pages.
        return reply.redirect(result.scope === 'enrolment' ? '/console/enrol' : '/console', 303);
      } catch (error) {
        const formError = toFormError(error);
        void reply.status(formError.status);
        return renderLogin(reply, context, { error: formError, username });
      }
    },
  );
}

function renderLogin(
  reply: FastifyReply,
  context: ConsoleContext,
  state: { error?: FormError; username?: string; notice?: string | null },
): Promise<FastifyReply> {
  const loginToken = issueLoginToken(reply, context.cookies);
  return renderPublicPage(reply, 'login', {
    title: 'Log in',
    loginToken,
    username: state.username ?? '',
    error: state.error ?? null,
    notice: state.notice ?? null,
  });
}
