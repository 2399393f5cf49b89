import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { hashToken } from '../auth/tokens.js';
import { StrongroomError } from '../errors.js';
import type { ApiTokenRecord, ApiTokenRepository, VaultRepository } from '../store/repositories.js';
import type { Actor } from '../vault/types.js';
import { generateApiToken } from './api-token-format.js';
import { parseAllowedNetworks } from './networks.js';

/** Maximum lifetime of an API token in days; an application gets a new token before then. */
export const API_TOKEN_MAX_DAYS = 366;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface NewApiToken {
  /** The application that uses the token, such as `billing-batch`. */
  name: string;
  accountIds: string[];
  allowedNetworks: string[];
  expiresAt: string;
}

/** An API token as listed: never the token or its hash. */
export interface ApiTokenView {
  id: string;
  name: string;
  accountIds: string[];
  allowedNetworks: string[];
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  revokedAt?: string;
  revokedBy?: string;
  state: 'active' | 'expired' | 'revoked';
}

export interface ApiTokenService {
  /** Creates a token and returns it with its view. The token is returned here and never again. */
  createToken(input: NewApiToken, actor: Actor): Promise<{ token: string; apiToken: ApiTokenView }>;
  listTokens(): Promise<ApiTokenView[]>;
  revokeToken(id: string, actor: Actor): Promise<ApiTokenView>;
}

export interface ApiTokenDependencies {
  apiTokens: ApiTokenRepository;
  vault: Pick<VaultRepository, 'findAccount'>;
  audit: AuditLog;
  logger: Logger;
  now?: () => Date;
}

export function createApiTokenService(deps: ApiTokenDependencies): ApiTokenService {
  const now = deps.now ?? (() => new Date());

  return {
    async createToken(input, actor) {
      const at = now();
      const allowedNetworks = parseAllowedNetworks(input.allowedNetworks);
      const expiresAt = checkExpiry(input.expiresAt, at);
      const accountIds = [...new Set(input.accountIds)].sort();
      await requireAccounts(deps, accountIds);

      const token = generateApiToken();
      const record: ApiTokenRecord = {
        id: randomUUID(),
        name: input.name,
        tokenHash: hashToken(token),
        createdBy: actor.username,
        createdAt: at.toISOString(),
        expiresAt,
        allowedNetworks,
        accountIds,
        revokedAt: undefined,
        revokedBy: undefined,
      };
      await deps.apiTokens.insertToken(record);

      try {
        await deps.audit.record({
          ...auditActor(actor),
          action: 'api-token.create',
          objectType: 'api-token',
          objectId: record.id,
          outcome: 'success',
          reason: '',
          details: {
            name: record.name,
            accountIds: accountIds.join(','),
            allowedNetworks: allowedNetworks.join(','),
            expiresAt,
          },
        });
      } catch (error) {
        // A token whose creation is not in the audit trail must not work.
        await deps.apiTokens.deleteToken(record.id).catch((deleteError: unknown) => {
          deps.logger.error(
            { err: deleteError, apiTokenId: record.id },
            'unaudited API token could not be deleted',
          );
        });
        throw error;
      }

      deps.logger.info({ apiTokenId: record.id, name: record.name }, 'API token created');
      return { token, apiToken: toView(record, at) };
    },

    async listTokens() {
      const at = now();
      return (await deps.apiTokens.listTokens()).map((record) => toView(record, at));
    },

    async revokeToken(id, actor) {
      const record = await deps.apiTokens.findToken(id);
      if (record === undefined) {
        throw new StrongroomError('SR_NOT_FOUND', `API token ${id} does not exist.`, {
          details: { apiTokenId: id },
        });
      }

      const at = now().toISOString();
      const revoked = await deps.apiTokens.revokeToken(id, at, actor.username);
      if (!revoked) {
        throw new StrongroomError(
          'SR_CONFLICT',
          `API token ${id} was already revoked at ${record.revokedAt ?? 'an earlier time'}.`,
          { details: { apiTokenId: id } },
        );
      }

      // NOTE: the revocation stays when its audit event cannot be written, because undoing it would
      // let a token work that an administrator meant to stop. The caller still gets the error.
      await deps.audit.record({
        ...auditActor(actor),
        action: 'api-token.revoke',
        objectType: 'api-token',
        objectId: id,
        outcome: 'success',
        reason: '',
        details: { name: record.name },
      });
      deps.logger.info({ apiTokenId: id, name: record.name }, 'API token revoked');
      return toView({ ...record, revokedAt: at, revokedBy: actor.username }, now());
    },
  };
}

/** Returns the expiry as ISO 8601 UTC, or throws SR_VALIDATION_FAILED when it is out of range. */
function checkExpiry(expiresAt: string, now: Date): string {
  const expiry = Date.parse(expiresAt);
  const latest = now.getTime() + API_TOKEN_MAX_DAYS * DAY_MS;
  if (Number.isNaN(expiry) || expiry <= now.getTime() || expiry > latest) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      `The expiry ${expiresAt} of the API token must be a date-time after now and at most ${API_TOKEN_MAX_DAYS} days ahead, such as ${new Date(now.getTime() + 90 * DAY_MS).toISOString()}.`,
      { details: { field: 'body.expiresAt' } },
    );
  }
  return new Date(expiry).toISOString();
}

async function requireAccounts(deps: ApiTokenDependencies, accountIds: string[]): Promise<void> {
  for (const accountId of accountIds) {
    if ((await deps.vault.findAccount(accountId)) === undefined) {
      throw new StrongroomError(
        'SR_NOT_FOUND',
        `Account ${accountId} does not exist, so no API token was created. Scope the token to existing accounts.`,
        { details: { accountId } },
      );
    }
  }
}

function auditActor(actor: Actor) {
  return { actor: actor.username, clientAddress: actor.clientAddress };
}

function toView(record: ApiTokenRecord, now: Date): ApiTokenView {
  const state =
    record.revokedAt !== undefined
      ? 'revoked'
      : Date.parse(record.expiresAt) <= now.getTime()
        ? 'expired'
        : 'active';
  return {
    id: record.id,
    name: record.name,
    accountIds: record.accountIds,
    allowedNetworks: record.allowedNetworks,
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    expiresAt: record.expiresAt,
    ...(record.revokedAt === undefined ? {} : { revokedAt: record.revokedAt }),
    ...(record.revokedBy === undefined ? {} : { revokedBy: record.revokedBy }),
    state,
  };
}
