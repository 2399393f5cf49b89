import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { getActor, requirePermission } from '../../server/authentication.js';
import { auditRefusedReveal } from '../../server/refused-reveal.js';
import { renderPage, type ConsoleContext } from '../context.js';
import { CHECKOUT_FORM_FIELDS, REVEAL_FORM_FIELDS } from '../form-fields.js';
import { readField, toFormError, type FormBody } from '../forms.js';
import { renderTarget } from './targets.js';

type AccountRequest = FastifyRequest<{ Params: { accountId: string }; Body: FormBody }>;

/**
 * Seconds a revealed secret stays on screen before the page's script hides it. Long enough to
 * copy it, short enough that an unattended screen does not show it for long.
 */
export const SECRET_VISIBLE_SECONDS = 30;

/**
 * Registers reveal, checkout and check-in. They call the same AccountUseService as the REST
 * routes, which checks the grant and records `secret.reveal`, `account.checkout` and
 * `account.checkin`. Refused attempts are recorded by the same hook as in the REST routes. The
 * secret travels only in the body of the POST response, never in a URL.
 */
export function registerUsePages(app: FastifyInstance, context: ConsoleContext): void {
  const { use } = context.services.access;

  // The body type matches the refused-reveal hook's; formbody always sets a body on a form POST.
  app.post<{ Params: { accountId: string }; Body: Record<string, unknown> }>(
    '/accounts/:accountId/reveal',
    {
      onRequest: requirePermission('secrets.reveal'),
      onResponse: auditRefusedReveal(context.deps.audit),
    },
    async (request, reply) =>
      showSecret(context, request, reply, 'reveal', async (reason) => {
        const actor = getActor(request);
        const revealed = await use.reveal(request.params.accountId, reason, actor);
        const grant = (await context.services.access.requests.list(actor)).find(
          (item) =>
            item.accountId === request.params.accountId &&
            item.requesterId === actor.userId &&
            item.status === 'approved',
        );
        return { ...revealed, expiresAt: grant?.expiresAt ?? null };
      }),
  );

  app.post<{ Params: { accountId: string }; Body: Record<string, unknown> }>(
    '/accounts/:accountId/checkout',
    {
      onRequest: requirePermission('secrets.checkout'),
      onResponse: auditRefusedReveal(context.deps.audit, 'account.checkout'),
    },
    async (request, reply) =>
      showSecret(context, request, reply, 'checkout', (reason) =>
        use.checkout(request.params.accountId, reason, getActor(request)),
      ),
  );

  app.post<{ Params: { accountId: string }; Body: FormBody }>(
    '/accounts/:accountId/checkin',
    { onRequest: requirePermission('secrets.checkout') },
    async (request, reply) => {
      const account = await context.deps.vault.getAccount(request.params.accountId);
      try {
        await use.checkin(account.id, getActor(request));
        return reply.redirect(`/console/targets/${account.targetId}?notice=checked-in`, 303);
      } catch (error) {
        const formError = toFormError(error);
        void reply.status(formError.status);
        return renderTarget(context, request, reply, account.targetId, {
          ...formError,
          accountId: account.id,
          form: 'checkin',
        });
      }
    },
  );
}

/** Runs a reveal or checkout and renders the secret page, or the target page with the error. */
async function showSecret(
  context: ConsoleContext,
  request: AccountRequest,
  reply: FastifyReply,
  kind: 'reveal' | 'checkout',
  open: (
    reason: string,
  ) => Promise<{ secret: string; secretVersion: number; expiresAt: string | null }>,
): Promise<FastifyReply> {
  const account = await context.deps.vault.getAccount(request.params.accountId);
  const target = await context.deps.vault.getTarget(account.targetId);
  try {
    const opened = await open(readField(request.body, 'reason', { max: 500 }));
    return await renderPage(request, reply, 'secret', {
      title: `Secret of ${account.username}`,
      nav: 'targets',
      kind,
      account,
      target,
      secret: opened.secret,
      secretVersion: opened.secretVersion,
      expiresAt: opened.expiresAt,
      visibleSeconds: SECRET_VISIBLE_SECONDS,
    });
  } catch (error) {
    const fields = kind === 'reveal' ? REVEAL_FORM_FIELDS : CHECKOUT_FORM_FIELDS;
    const formError = toFormError(error, fields, request.body);
    void reply.status(formError.status);
    return renderTarget(context, request, reply, account.targetId, {
      ...formError,
      accountId: account.id,
      form: kind,
    });
  }
}
