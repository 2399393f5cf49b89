import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { API_TOKEN_MAX_DAYS } from '../../apps/api-tokens.js';
import { MAX_ALLOWED_NETWORKS } from '../../apps/networks.js';
import { StrongroomError } from '../../errors.js';
import { getActor, requirePermission } from '../../server/authentication.js';
import { renderPage, type ConsoleContext, type FormError } from '../context.js';
import {
  readField,
  readWholeNumber,
  requireConfirmation,
  toFormError,
  type FormBody,
} from '../forms.js';
import { noticeFor } from '../notices.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Registers the API token pages: the list, creation (the token is formError once, on the response to
 * the POST) and revocation after a confirmation. They call the same ApiTokenService as
 * /api/v1/api-tokens, which records `api-token.create` and `api-token.revoke`.
 */
export function registerTokenPages(app: FastifyInstance, context: ConsoleContext): void {
  const manage = { onRequest: requirePermission('api-tokens.manage') };
  const { apiTokens } = context.services;

  app.get('/api-tokens', manage, async (request, reply) =>
    renderTokens(context, request, reply, { error: null, created: null }),
  );

  app.post<{ Body: FormBody }>('/api-tokens', manage, async (request, reply) => {
    try {
      const days = readWholeNumber(request.body, 'expiresInDays', {
        min: 1,
        max: API_TOKEN_MAX_DAYS,
      });
      const created = await apiTokens.createToken(
        {
          name: readField(request.body, 'name', { min: 1, max: 100, printable: true }),
          accountIds: readAccountIds(request.body),
          allowedNetworks: readField(request.body, 'allowedNetworks', { min: 1, max: 2000 })
            .split(/[\s,]+/)
            .filter((network) => network !== ''),
          expiresAt: new Date(context.now().getTime() + days * DAY_MS).toISOString(),
        },
        getActor(request),
      );
      return await renderTokens(context, request, reply, {
        error: null,
        created: { token: created.token, name: created.apiToken.name },
      });
    } catch (error) {
      const formError = toFormError(error);
      void reply.status(formError.status);
      return renderTokens(context, request, reply, {
        error: { ...formError, form: 'create' },
        created: null,
      });
    }
  });

  app.post<{ Params: { tokenId: string }; Body: FormBody }>(
    '/api-tokens/:tokenId/revoke',
    manage,
    async (request, reply) => {
      try {
        requireConfirmation(request.body, 'revoke the API token');
        await apiTokens.revokeToken(request.params.tokenId, getActor(request));
        return await reply.redirect('/console/api-tokens?notice=token-revoked', 303);
      } catch (error) {
        const formError = toFormError(error);
        void reply.status(formError.status);
        return renderTokens(context, request, reply, {
          error: { ...formError, form: request.params.tokenId },
          created: null,
        });
      }
    },
  );
}

/** Reads the ticked account checkboxes; formbody gives a string for one and an array for several. */
function readAccountIds(body: FormBody): string[] {
  const raw = body?.['accountIds'];
  const ids = (Array.isArray(raw) ? raw : [raw]).filter(
    (id): id is string => typeof id === 'string',
  );
  if (ids.length === 0 || !ids.every((id) => UUID.test(id))) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      'The field accountIds must name at least one account. Tick the accounts the application may read.',
      { details: { field: 'body.accountIds' } },
    );
  }
  return ids;
}

async function renderTokens(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  state: {
    error: (FormError & { form: string }) | null;
    created: { token: string; name: string } | null;
  },
): Promise<FastifyReply> {
  const accounts = [];
  for (const target of await context.deps.vault.listTargets()) {
    for (const account of await context.deps.vault.listAccounts(target.id)) {
      accounts.push({ id: account.id, label: `${account.username} on ${target.name}` });
    }
  }
  return renderPage(request, reply, 'tokens', {
    title: 'API tokens',
    nav: 'tokens',
    tokens: await context.services.apiTokens.listTokens(),
    accounts,
    maxDays: API_TOKEN_MAX_DAYS,
    maxNetworks: MAX_ALLOWED_NETWORKS,
    notice: noticeFor(request.query),
    ...state,
  });
}
