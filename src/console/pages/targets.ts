import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { MAX_POLICY_SECONDS, MIN_ACCESS_SECONDS } from '../../access/types.js';
import { isAllowed } from '../../auth/policy.js';
import type { Role } from '../../auth/users.js';
import { getActor, requirePermission } from '../../server/authentication.js';
import type { AccountView } from '../../vault/types.js';
import { REQUEST_FORM_FIELDS } from '../form-fields.js';
import { renderPage, type ConsoleContext, type FormError } from '../context.js';
import { readField, readWholeNumber, toFormError, type FormBody } from '../forms.js';
import { noticeFor } from '../notices.js';

type TargetParams = { Params: { targetId: string } };
type AccountParams = { Params: { accountId: string }; Body: FormBody };

/** An error of a form about one account, formError under that account. */
export interface AccountFormError extends FormError {
  accountId: string;
  form: string;
}

/** Registers the target list, a target's accounts and the access request form. */
export function registerTargetPages(app: FastifyInstance, context: ConsoleContext): void {
  const readTargets = { onRequest: requirePermission('targets.read') };

  app.get('/targets', readTargets, async (request, reply) =>
    renderPage(request, reply, 'targets', {
      title: 'Targets',
      nav: 'targets',
      targets: await context.deps.vault.listTargets(),
    }),
  );

  app.get<TargetParams>('/targets/:targetId', readTargets, async (request, reply) =>
    renderTarget(context, request, reply, request.params.targetId, null),
  );

  app.post<AccountParams>(
    '/accounts/:accountId/request',
    { onRequest: requirePermission('access.request') },
    async (request, reply) => {
      const account = await context.deps.vault.getAccount(request.params.accountId);
      try {
        // Without a policy the service raises SR_ACCESS_POLICY_MISSING, so the form checks only
        // the longest period that any policy may allow.
        const maxSeconds =
          (await maxAccessSeconds(context, account.targetId)) ?? MAX_POLICY_SECONDS;
        const minutes = readWholeNumber(request.body, 'durationMinutes', {
          min: MIN_ACCESS_SECONDS / 60,
          max: Math.max(MIN_ACCESS_SECONDS / 60, Math.floor(maxSeconds / 60)),
        });
        await context.services.access.requests.create(
          {
            accountId: account.id,
            reason: readField(request.body, 'reason', { max: 500 }),
            durationSeconds: minutes * 60,
          },
          getActor(request),
        );
        return reply.redirect('/console/requests?notice=requested', 303);
      } catch (error) {
        const formError = toFormError(error, REQUEST_FORM_FIELDS, request.body);
        void reply.status(formError.status);
        return renderTarget(context, request, reply, account.targetId, {
          ...formError,
          accountId: account.id,
          form: 'request',
        });
      }
    },
  );
}

/**
 * Renders a target with its accounts and, for each account, what the user may do with it now:
 * request access, or reveal, check out and check in within an active grant. The services check
 * all of it again when a form is posted.
 */
export async function renderTarget(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  targetId: string,
  error: AccountFormError | null,
): Promise<FastifyReply> {
  const actor = getActor(request);
  const target = await context.deps.vault.getTarget(targetId);
  const accounts = await context.deps.vault.listAccounts(targetId);
  const mine = isAllowed(actor.role as Role, 'access.read')
    ? (await context.services.access.requests.list(actor)).filter(
        (item) => item.requesterId === actor.userId && item.targetId === targetId,
      )
    : [];

  const rows = [];
  for (const account of accounts) {
    rows.push(await describeAccount(context, account, mine, actor.userId));
  }

  const maxSeconds = await maxAccessSeconds(context, targetId);
  return renderPage(request, reply, 'target', {
    title: `Target ${target.name}`,
    nav: 'targets',
    target,
    maxMinutes: maxSeconds === null ? null : Math.floor(maxSeconds / 60),
    accounts: rows,
    error,
    notice: noticeFor(request.query),
  });
}

/** Returns the longest access period that the target's policy allows, or null without a policy. */
async function maxAccessSeconds(context: ConsoleContext, targetId: string): Promise<number | null> {
  const policy = await context.deps.store.groups.findPolicy(targetId);
  return policy?.maxDurationSeconds ?? null;
}

async function describeAccount(
  context: ConsoleContext,
  account: AccountView,
  mine: Awaited<ReturnType<ConsoleContext['services']['access']['requests']['list']>>,
  userId: string,
) {
  const forAccount = mine.filter((item) => item.accountId === account.id);
  const grant = forAccount.find((item) => item.status === 'approved');
  const pending = forAccount.find((item) => item.status === 'pending');
  const checkout = await context.services.access.sweeper.currentCheckout(account.id);
  return {
    ...account,
    grantExpiresAt: grant?.expiresAt ?? null,
    pendingRequestId: pending?.id ?? null,
    checkedOutByMe: checkout !== undefined && checkout.userId === userId,
    checkedOutByOther: checkout !== undefined && checkout.userId !== userId,
  };
}
