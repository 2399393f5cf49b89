import type { FastifyReply, FastifyRequest } from 'fastify';

import { StrongroomError } from '../errors.js';
import { bindPrincipal, getPrincipal } from '../server/authentication.js';
import type { ConsoleContext } from './context.js';
import type { FormBody } from './forms.js';
import { assertCsrfToken, csrfTokenFor, readCookie, sessionCookieName } from './session.js';

/**
 * Returns the onRequest hook of the signed-in console pages. It resolves the session cookie with
 * the same session store as bearer tokens, so logout, a disabled user or an expired session end
 * the console session as well. A request without a cookie is sent to the login page, with a
 * notice for a POST, and one of a
 * session limited to TOTP enrolment to the enrolment page. A session idle for longer than the idle
 * timeout is logged out and gets SR_CONSOLE_SESSION_IDLE.
 */
export function createConsoleGuard(context: ConsoleContext) {
  return async function authenticateConsole(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const token = readCookie(request, sessionCookieName(context.cookies));
    if (token === undefined) {
      // A form posted without a cookie comes from a page whose session ended, for example by a
      // logout in another tab, so the login page shows why the form did nothing.
      const target =
        request.method === 'POST' ? '/console/login?notice=session-ended' : '/console/login';
      return reply.redirect(target, 303);
    }

    const user = await context.services.auth.authenticate(token);
    const now = context.now();
    if (context.idle.isIdle(token, now)) {
      context.idle.forget(token);
      await context.services.auth.logout(token, user, request.ip);
      throw new StrongroomError(
        'SR_CONSOLE_SESSION_IDLE',
        `Your session ended because it had no activity for ${Math.round(context.idleSeconds / 60)} minutes. Log in again.`,
      );
    }

    bindPrincipal(request, user, token);
    context.idle.touch(token, now);

    // A session limited to TOTP enrolment reaches only the enrolment pages and the logout, as
    // in the API, which marks its enrolment routes the same way.
    if (
      user.sessionScope === 'enrolment' &&
      request.routeOptions.config.allowEnrolmentSession !== true
    ) {
      return reply.redirect('/console/enrol', 303);
    }
    return undefined;
  };
}

/** preHandler hook: rejects a POST whose `_csrf` field is not the token of the session. */
export async function checkCsrfToken(request: FastifyRequest): Promise<void> {
  if (request.method !== 'POST') {
    return;
  }
  const { token } = getPrincipal(request);
  assertCsrfToken(csrfTokenFor(token), (request.body as FormBody)?.['_csrf']);
}
