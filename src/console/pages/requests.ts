import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { getActor, requirePermission } from '../../server/authentication.js';
import { renderPage, type ConsoleContext, type FormError } from '../context.js';
import { readField, requireConfirmation, toFormError, type FormBody } from '../forms.js';
import { noticeFor } from '../notices.js';
import { nameRequests } from './names.js';

type RequestRoute = { Params: { requestId: string }; Body: FormBody };

/** Registers the access request list and the approve, reject and cancel forms. */
export function registerRequestPages(app: FastifyInstance, context: ConsoleContext): void {
  const { requests } = context.services.access;

  app.get('/requests', { onRequest: requirePermission('access.read') }, async (request, reply) =>
    renderRequests(context, request, reply, null),
  );

  app.post<RequestRoute>(
    '/requests/:requestId/approve',
    { onRequest: requirePermission('access.approve') },
    async (request, reply) =>
      decide(context, request, reply, 'approved', (comment) =>
        requests.approve(request.params.requestId, comment, getActor(request)),
      ),
  );

  app.post<RequestRoute>(
    '/requests/:requestId/reject',
    { onRequest: requirePermission('access.approve') },
    async (request, reply) =>
      decide(context, request, reply, 'rejected', (comment) => {
        requireConfirmation(request.body, 'reject the request');
        return requests.reject(request.params.requestId, comment, getActor(request));
      }),
  );

  app.post<RequestRoute>(
    '/requests/:requestId/cancel',
    { onRequest: requirePermission('access.request') },
    async (request, reply) =>
      decide(context, request, reply, 'cancelled', () =>
        requests.cancel(request.params.requestId, getActor(request)),
      ),
  );
}

async function decide(
  context: ConsoleContext,
  request: FastifyRequest<RequestRoute>,
  reply: FastifyReply,
  notice: string,
  action: (comment: string) => Promise<unknown>,
): Promise<FastifyReply> {
  try {
    await action(readField(request.body, 'comment', { max: 500 }));
    return await reply.redirect(`/console/requests?notice=${notice}`, 303);
  } catch (error) {
    const formError = toFormError(error);
    void reply.status(formError.status);
    return renderRequests(context, request, reply, {
      ...formError,
      requestId: request.params.requestId,
    });
  }
}

async function renderRequests(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  error: (FormError & { requestId: string }) | null,
): Promise<FastifyReply> {
  const actor = getActor(request);
  const all = await nameRequests(context, await context.services.access.requests.list(actor));
  all.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return renderPage(request, reply, 'requests', {
    title: 'Access requests',
    nav: 'requests',
    requests: all,
    userId: actor.userId,
    error,
    notice: noticeFor(request.query),
  });
}
