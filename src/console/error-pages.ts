import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { errorRegistry, StrongroomError } from '../errors.js';
import { getPrincipal } from '../server/authentication.js';
import { toStrongroomError } from '../server/error-handler.js';
import { pathOf } from '../server/logging.js';
import { renderPage, renderPublicPage, type ConsoleContext } from './context.js';
import { clearSessionCookie } from './session.js';

/** Codes after which the browser has no usable session, so the page links to the login. */
const SESSION_ENDED_CODES = new Set(['SR_AUTH_REQUIRED', 'SR_CONSOLE_SESSION_IDLE']);

/**
 * Returns the console's error handler: an HTML page with the SR_* code, what it means and the
 * message, instead of the API's JSON. Logging follows the API: 5xx at error, 4xx at info.
 */
export function createConsoleErrorHandler(context: ConsoleContext) {
  return async function renderConsoleError(
    error: FastifyError,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const mapped = toStrongroomError(error, request);
    if (mapped.status >= 500) {
      request.log.error({ err: error, code: mapped.code }, 'console request failed');
    } else {
      request.log.info({ code: mapped.code, details: mapped.details }, 'console request rejected');
    }

    const errorView = {
      code: mapped.code,
      summary: errorRegistry[mapped.code].summary,
      message: mapped.message,
    };
    void reply.status(mapped.status);
    if (SESSION_ENDED_CODES.has(mapped.code)) {
      clearSessionCookie(reply, context.cookies);
      return renderPublicPage(reply, 'ended', { title: 'Session ended', error: errorView });
    }
    if (hasPrincipal(request)) {
      return renderPage(request, reply, 'error', { title: 'Error', error: errorView });
    }
    return renderPublicPage(reply, 'error', { title: 'Error', error: errorView });
  };
}

/** Renders SR_NOT_FOUND as a console page for a path under /console that matches no route. */
export async function renderConsoleNotFound(
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const error = new StrongroomError(
    'SR_NOT_FOUND',
    `The console has no page at ${pathOf(request.url)}. Start again from the dashboard.`,
  );
  const errorView = {
    code: error.code,
    summary: errorRegistry[error.code].summary,
    message: error.message,
  };
  return renderPublicPage(reply.status(404), 'error', { title: 'Not found', error: errorView });
}

function hasPrincipal(request: FastifyRequest): boolean {
  try {
    getPrincipal(request);
    return true;
  } catch {
    return false;
  }
}
