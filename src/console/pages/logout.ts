import type { FastifyInstance } from 'fastify';

import { getPrincipal } from '../../server/authentication.js';
import { renderPublicPage, type ConsoleContext } from '../context.js';
import { clearSessionCookie } from '../session.js';

/** Registers POST /console/logout: ends the session as POST /api/v1/auth/logout does. */
export function registerLogout(app: FastifyInstance, context: ConsoleContext): void {
  app.post('/logout', { config: { allowEnrolmentSession: true } }, async (request, reply) => {
    const { user, token } = getPrincipal(request);
    await context.services.auth.logout(token, user, request.ip);
    context.idle.forget(token);
    clearSessionCookie(reply, context.cookies);
    return renderPublicPage(reply, 'ended', {
      title: 'Logged out',
      error: null,
      notice: 'You logged out. Close the browser window if you share this computer.',
    });
  });
}
