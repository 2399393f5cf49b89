import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { hashToken } from '../auth/tokens.js';
import { isStrongroomError, StrongroomError } from '../errors.js';
import type { Keyring } from '../keys/keyring.js';
import { isDatabaseUnavailable } from '../store/availability.js';
import type {
  ApiTokenRecord,
  ApiTokenRepository,
  KeyRepository,
  VaultRepository,
} from '../store/repositories.js';
import { decryptSecret } from '../vault/service.js';
import { isApiTokenShaped, isSessionTokenShaped } from './api-token-format.js';
import { buildAllowList, isAddressAllowed } from './networks.js';

/** A retrieval request of an application: the bearer token, the account and the client address. */
export interface RetrievalRequest {
  /** The token from the Authorization header, or undefined when the header is missing. */
  token: string | undefined;
  accountId: string;
  clientAddress: string;
}

export interface RetrievedSecret {
  secret: string;
  secretType: string;
  secretVersion: number;
}

export interface SecretRetrievalService {
  /**
   * Returns the current secret of an account to an application. Every call, allowed or refused,
   * writes a `secret.retrieve` audit event first; when the event cannot be written the call fails
   * with SR_AUDIT_WRITE_FAILED and returns nothing.
   */
  retrieve(request: RetrievalRequest): Promise<RetrievedSecret>;
}

export interface RetrievalDependencies {
  apiTokens: Pick<ApiTokenRepository, 'findTokenByHash'>;
  vault: Pick<VaultRepository, 'findAccount'>;
  keys: Pick<KeyRepository, 'findDek'>;
  keyring: Keyring;
  audit: AuditLog;
  logger: Logger;
  now?: () => Date;
}

/** The cause of a rejected retrieval, kept in the audit event and the log. It never contains a token. */
type Refusal =
  | 'missing token'
  | 'session token'
  | 'malformed token'
  | 'unknown token'
  | 'revoked token'
  | 'expired token'
  | 'address not allowed'
  | 'account out of scope'
  | 'account not found'
  | 'decryption failed';

export function createSecretRetrievalService(deps: RetrievalDependencies): SecretRetrievalService {
  const now = deps.now ?? (() => new Date());

  async function record(
    request: RetrievalRequest,
    token: ApiTokenRecord | undefined,
    outcome: { refusal: Refusal } | { secretVersion: number },
  ): Promise<void> {
    const refused = 'refusal' in outcome;
    await deps.audit.record({
      actor: token === undefined ? '(no valid API token)' : `api-token:${token.name}`,
      clientAddress: request.clientAddress,
      action: 'secret.retrieve',
      objectType: 'account',
      objectId: request.accountId,
      outcome: refused ? 'failure' : 'success',
      reason: '',
      details: {
        ...(token === undefined ? {} : { apiTokenId: token.id }),
        ...(refused ? { refusal: outcome.refusal } : { secretVersion: outcome.secretVersion }),
      },
    });
  }

  async function refuse(
    request: RetrievalRequest,
    token: ApiTokenRecord | undefined,
    refusal: Refusal,
    error: StrongroomError,
  ): Promise<never> {
    deps.logger.info(
      {
        apiTokenId: token?.id,
        accountId: request.accountId,
        clientAddress: request.clientAddress,
        refusal,
      },
      'secret retrieval refused',
    );
    await record(request, token, { refusal });
    throw error;
  }

  async function authenticate(request: RetrievalRequest): Promise<ApiTokenRecord> {
    const { token } = request;
    if (token === undefined || token === '') {
      return refuse(
        request,
        undefined,
        'missing token',
        rejected('The request has no API token. Send it as "Authorization: Bearer <token>".'),
      );
    }
    if (!isApiTokenShaped(token)) {
      const refusal = isSessionTokenShaped(token) ? 'session token' : 'malformed token';
      const message =
        refusal === 'session token'
          ? 'This route accepts only application API tokens, not login session tokens. Ask an administrator for an API token.'
          : 'The API token is malformed. Send the whole token that was shown when it was created.';
      return refuse(request, undefined, refusal, rejected(message));
    }

    const record = await deps.apiTokens.findTokenByHash(hashToken(token));
    if (record === undefined) {
      return refuse(request, undefined, 'unknown token', rejected('The API token is unknown.'));
    }
    if (record.revokedAt !== undefined) {
      return refuse(
        request,
        record,
        'revoked token',
        rejected(
          `The API token ${record.id} was revoked at ${record.revokedAt}. Ask an administrator for a new one.`,
        ),
      );
    }
    if (Date.parse(record.expiresAt) <= now().getTime()) {
      return refuse(
        request,
        record,
        'expired token',
        rejected(
          `The API token ${record.id} expired at ${record.expiresAt}. Ask an administrator for a new one.`,
        ),
      );
    }
    return record;
  }

  return {
    async retrieve(request) {
      const token = await authenticate(request);

      if (!isAddressAllowed(buildAllowList(token.allowedNetworks), request.clientAddress)) {
        await refuse(
          request,
          token,
          'address not allowed',
          new StrongroomError(
            'SR_API_TOKEN_ADDRESS',
            `The client address ${request.clientAddress} is not in the allow-list of API token ${token.id}. Ask an administrator to add its network to the token.`,
            { details: { apiTokenId: token.id, clientAddress: request.clientAddress } },
          ),
        );
      }
      if (!token.accountIds.includes(request.accountId)) {
        await refuse(
          request,
          token,
          'account out of scope',
          new StrongroomError(
            'SR_API_TOKEN_SCOPE',
            `API token ${token.id} is not scoped to account ${request.accountId}. Ask an administrator for a token that names the account.`,
            { details: { apiTokenId: token.id, accountId: request.accountId } },
          ),
        );
      }

      const account = await deps.vault.findAccount(request.accountId);
      if (account === undefined) {
        return refuse(
          request,
          token,
          'account not found',
          new StrongroomError('SR_NOT_FOUND', `Account ${request.accountId} does not exist.`),
        );
      }

      let secret: string;
      try {
        secret = await decryptSecret(deps, account);
      } catch (error) {
        if (isDatabaseUnavailable(error) || (isStrongroomError(error) && error.status === 503)) {
          throw error;
        }
        deps.logger.error({ err: error, accountId: account.id }, 'secret could not be decrypted');
        return refuse(
          request,
          token,
          'decryption failed',
          new StrongroomError(
            'SR_DECRYPT_FAILED',
            `The secret of account ${account.id} could not be decrypted.`,
          ),
        );
      }

      // The event is stored before the secret leaves the service; if it cannot be, nothing leaves.
      await record(request, token, { secretVersion: account.secretVersion });
      return { secret, secretType: account.secretType, secretVersion: account.secretVersion };
    },
  };
}

function rejected(message: string): StrongroomError {
  return new StrongroomError('SR_API_TOKEN_REJECTED', message);
}
