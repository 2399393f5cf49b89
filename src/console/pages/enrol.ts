import type { FastifyInstance } from 'fastify';

import { assertTotpCodeShape } from '../../auth/totp.js';
import { getPrincipal } from '../../server/authentication.js';
import { renderPage, renderPublicPage, type ConsoleContext } from '../context.js';
import { readField, toFormError, type FormBody } from '../forms.js';
import { clearSessionCookie } from '../session.js';

const enrolmentOnly = { config: { allowEnrolmentSession: true } };

/**
 * Registers TOTP enrolment for a user whose role requires TOTP and who has none yet. Starting
 * shows the new secret once. Confirming with a code ends the user's sessions, so the next login
 * uses the code. Both call the same TotpEnrolmentService as /api/v1/auth/totp/*.
 */
export function registerEnrolmentPages(app: FastifyInstance, context: ConsoleContext): void {
  const { enrolment } = context.services;

  app.get('/enrol', enrolmentOnly, async (request, reply) =>
    renderPage(request, reply, 'enrol', {
      title: 'Enrol a second factor',
      enrolment: null,
      error: null,
    }),
  );

  app.post('/enrol/begin', enrolmentOnly, async (request, reply) => {
    const { user } = getPrincipal(request);
    const started = await enrolment.begin({
      userId: user.id,
      username: user.username,
      clientAddress: request.ip,
    });
    return renderPage(request, reply, 'enrol', {
      title: 'Enrol a second factor',
      enrolment: started,
      error: null,
    });
  });

  app.post<{ Body: FormBody }>('/enrol/confirm', enrolmentOnly, async (request, reply) => {
    const { user, token } = getPrincipal(request);
    try {
      const code = readField(request.body, 'code', { min: 1, max: 16 });
      assertTotpCodeShape(code, 'body.code');
      await enrolment.confirm(
        { userId: user.id, username: user.username, clientAddress: request.ip },
        code,
      );
    } catch (error) {
      const formError = toFormError(error);
      void reply.status(formError.status);
      return renderPage(request, reply, 'enrol', {
        title: 'Enrol a second factor',
        enrolment: null,
        error: formError,
      });
    }

    context.idle.forget(token);
    clearSessionCookie(reply, context.cookies);
    return renderPublicPage(reply, 'ended', {
      title: 'Second factor enrolled',
      error: null,
      notice: 'Your authenticator app is enrolled. Log in again with the code it shows.',
    });
  });
}
