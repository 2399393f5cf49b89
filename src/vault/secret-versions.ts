import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { Keyring } from '../keys/keyring.js';
import type {
  AccountRecord,
  SecretVersionMetadata,
  SecretVersionRepository,
  VaultRepository,
} from '../store/repositories.js';
import { sealSecret } from './seal.js';
import { assertValidSecret, type SecretType } from './secret-types.js';
import type { Actor } from './types.js';

/** A new secret for an account. The type stays that of the current version when missing. */
export interface NewSecretVersion {
  secret: string;
  secretType?: SecretType;
  reason: string;
}

/** A secret version as listed: who stored it, when and why, never the secret. */
export interface SecretVersionView {
  accountId: string;
  version: number;
  secretType: string;
  createdAt: string;
  createdBy: string;
  reason: string;
  current: boolean;
}

export interface SecretVersionService {
  /**
   * Stores a new version of the account's secret under a new DEK and makes it current. The audit
   * event `secret.update` is written after the version; when it cannot be, the version is removed
   * again and SR_AUDIT_WRITE_FAILED is thrown.
   */
  setSecret(accountId: string, input: NewSecretVersion, actor: Actor): Promise<SecretVersionView>;
  /** Lists the versions of the account's secret, newest first. */
  listVersions(accountId: string): Promise<SecretVersionView[]>;
}

export interface SecretVersionDependencies {
  vault: Pick<VaultRepository, 'findAccount'>;
  secretVersions: SecretVersionRepository;
  keyring: Pick<Keyring, 'newDek'>;
  audit: AuditLog;
  logger: Logger;
  now?: () => Date;
}

export function createSecretVersionService(deps: SecretVersionDependencies): SecretVersionService {
  const now = deps.now ?? (() => new Date());

  async function requireAccount(id: string): Promise<AccountRecord> {
    const account = await deps.vault.findAccount(id);
    if (account === undefined) {
      throw new StrongroomError('SR_NOT_FOUND', `Account ${id} does not exist.`, {
        details: { accountId: id },
      });
    }
    return account;
  }

  return {
    async setSecret(accountId, input, actor) {
      const account = await requireAccount(accountId);
      const secretType = input.secretType ?? account.secretType;
      assertValidSecret(secretType, input.secret);

      const next = account.secretVersion + 1;
      const { dek, ciphertext } = await sealSecret(deps.keyring, account.id, next, input.secret);
      const version: SecretVersionMetadata = {
        accountId: account.id,
        version: next,
        secretType,
        dekId: dek.id,
        createdAt: now().toISOString(),
        createdBy: actor.username,
        reason: input.reason,
      };
      await deps.secretVersions.addVersion({ ...version, secretCiphertext: ciphertext }, dek);

      try {
        await deps.audit.record({
          actor: actor.username,
          clientAddress: actor.clientAddress,
          action: 'secret.update',
          objectType: 'account',
          objectId: account.id,
          outcome: 'success',
          reason: input.reason,
          details: { targetId: account.targetId, secretVersion: next, secretType, dekId: dek.id },
        });
      } catch (error) {
        await undoVersion(deps, version, account);
        throw error;
      }

      return toView(version, true);
    },

    async listVersions(accountId) {
      const account = await requireAccount(accountId);
      const versions = await deps.secretVersions.listVersions(account.id);
      return versions.map((version) => toView(version, version.version === account.secretVersion));
    },
  };
}

async function undoVersion(
  deps: SecretVersionDependencies,
  version: SecretVersionMetadata,
  previous: AccountRecord,
): Promise<void> {
  const ids = { accountId: version.accountId, secretVersion: version.version };
  try {
    const removed = await deps.secretVersions.removeLatestVersion(version, {
      version: previous.secretVersion,
      dekId: previous.dekId,
      updatedAt: previous.updatedAt,
      rotationRequired: previous.rotationRequired ?? false,
    });
    if (!removed) {
      deps.logger.error(ids, 'unaudited secret version was not removed: a newer one replaced it');
    }
  } catch (error) {
    deps.logger.error({ err: error, ...ids }, 'unaudited secret version could not be removed');
  }
}

function toView(version: SecretVersionMetadata, current: boolean): SecretVersionView {
  return {
    accountId: version.accountId,
    version: version.version,
    secretType: version.secretType,
    createdAt: version.createdAt,
    createdBy: version.createdBy,
    reason: version.reason,
    current,
  };
}
