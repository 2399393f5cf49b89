import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { StrongroomError } from '../errors.js';
import { openGcm, sealGcm } from '../crypto/aes-gcm.js';
import { secretAssociatedData } from '../crypto/associated-data.js';
import { runAudited } from '../audit/atomic.js';
import type { AuditLog } from '../audit/types.js';
import { isDatabaseUnavailable } from '../store/availability.js';
import { assertValidSecret } from './secret-types.js';
import type { Keyring } from '../keys/keyring.js';
import type {
  AccountRecord,
  KeyRepository,
  TargetRecord,
  VaultRepository,
} from '../store/repositories.js';
import type {
  AccountView,
  Actor,
  NewAccount,
  NewTarget,
  RevealedSecret,
  TargetView,
  VaultService,
} from './types.js';

export interface VaultDependencies {
  vault: VaultRepository;
  keys: Pick<KeyRepository, 'findDek'>;
  keyring: Keyring;
  audit: AuditLog;
  logger: Logger;
  now?: () => Date;
}

/** Creates the vault service: each secret is sealed with AES-256-GCM under its own DEK. */
export function createVaultService(deps: VaultDependencies): VaultService {
  const now = deps.now ?? (() => new Date());

  async function requireTarget(id: string): Promise<TargetRecord> {
    const target = await deps.vault.findTarget(id);
    if (target === undefined) {
      throw new StrongroomError('SR_NOT_FOUND', `Target ${id} does not exist.`);
    }
    return target;
  }

  async function requireAccount(id: string): Promise<AccountRecord> {
    const account = await deps.vault.findAccount(id);
    if (account === undefined) {
      throw new StrongroomError('SR_NOT_FOUND', `Account ${id} does not exist.`);
    }
    return account;
  }

  return {
    async createTarget(input: NewTarget, actor: Actor): Promise<TargetView> {
      const record: TargetRecord = { id: randomUUID(), ...input, createdAt: now().toISOString() };
      await runAudited(deps.audit, { vault: deps.vault }, async ({ vault, audit }) => {
        await vault.insertTarget(record);
        await audit.record({
          ...auditActor(actor),
          action: 'target.create',
          objectType: 'target',
          objectId: record.id,
          outcome: 'success',
          reason: '',
          details: { name: record.name },
        });
      });
      return record;
    },

    async listTargets() {
      return deps.vault.listTargets();
    },

    async getTarget(id: string) {
      return requireTarget(id);
    },

    async createAccount(targetId: string, input: NewAccount, actor: Actor): Promise<AccountView> {
      const secretType = input.secretType ?? 'password';
      assertValidSecret(secretType, input.secret);
      await requireTarget(targetId);

      const id = randomUUID();
      const { record: dekRecord, dek } = await deps.keyring.newDek();
      const plaintext = Buffer.from(input.secret, 'utf8');
      let ciphertext: Buffer;
      try {
        ciphertext = sealGcm(dek, plaintext, secretAssociatedData(id, dekRecord.id, 1));
      } finally {
        dek.fill(0);
        plaintext.fill(0);
      }

      const timestamp = now().toISOString();
      const account: AccountRecord = {
        id,
        targetId,
        username: input.username,
        description: input.description,
        dekId: dekRecord.id,
        secretCiphertext: ciphertext,
        secretVersion: 1,
        secretType,
        createdAt: timestamp,
        updatedAt: timestamp,
      };
      await runAudited(deps.audit, { vault: deps.vault }, async ({ vault, audit }) => {
        await vault.insertAccountWithDek(account, dekRecord, {
          createdBy: actor.username,
          reason: 'Account created.',
        });
        await audit.record({
          ...auditActor(actor),
          action: 'account.create',
          objectType: 'account',
          objectId: id,
          outcome: 'success',
          reason: '',
          details: { targetId, username: input.username, dekId: dekRecord.id, secretType },
        });
      });
      return toView(account);
    },

    async listAccounts(targetId: string) {
      await requireTarget(targetId);
      return (await deps.vault.listAccounts(targetId)).map(toView);
    },

    async getAccount(id: string) {
      return toView(await requireAccount(id));
    },

    async revealSecret(
      accountId: string,
      reason: string,
      actor: Actor,
      details: Record<string, string | number | boolean> = {},
    ): Promise<RevealedSecret> {
      const account = await requireAccount(accountId);
      const event = {
        ...auditActor(actor),
        action: 'secret.reveal',
        objectType: 'account',
        objectId: account.id,
        reason,
        details: { ...details, targetId: account.targetId, secretVersion: account.secretVersion },
      };

      let secret: string;
      try {
        secret = await decryptSecret(deps, account);
      } catch (error) {
        if (isDatabaseUnavailable(error)) {
          throw error;
        }
        deps.logger.error(
          { err: error, accountId: account.id, dekId: account.dekId },
          'secret could not be decrypted',
        );
        await deps.audit.record({ ...event, outcome: 'failure' });
        throw error instanceof StrongroomError && error.status === 503
          ? error
          : new StrongroomError(
              'SR_DECRYPT_FAILED',
              `The secret of account ${account.id} could not be decrypted.`,
            );
      }

      // The event is stored before the secret leaves the service; if it cannot be, nothing leaves.
      await deps.audit.record({ ...event, outcome: 'success' });
      return { secret, secretVersion: account.secretVersion };
    },
  };
}

/** Decrypts the current secret of an account. Throws SR_DECRYPT_FAILED when its DEK is missing. */
export async function decryptSecret(
  deps: Pick<VaultDependencies, 'keys' | 'keyring'>,
  account: AccountRecord,
): Promise<string> {
  const dekRecord = await deps.keys.findDek(account.dekId);
  if (dekRecord === undefined) {
    throw new StrongroomError(
      'SR_DECRYPT_FAILED',
      `DEK ${account.dekId} of account ${account.id} is missing.`,
    );
  }

  const dek = await deps.keyring.openDek(dekRecord);
  let plaintext: Buffer | undefined;
  try {
    plaintext = openGcm(
      dek,
      account.secretCiphertext,
      secretAssociatedData(account.id, dekRecord.id, account.secretVersion),
    );
    return plaintext.toString('utf8');
  } finally {
    dek.fill(0);
    plaintext?.fill(0);
  }
}

function auditActor(actor: Actor) {
  return { actor: actor.username, clientAddress: actor.clientAddress };
}

function toView(account: AccountRecord): AccountView {
  return {
    id: account.id,
    targetId: account.targetId,
    username: account.username,
    description: account.description,
    secretVersion: account.secretVersion,
    secretType: account.secretType,
    createdAt: account.createdAt,
    updatedAt: account.updatedAt,
    rotationRequired: account.rotationRequired ?? false,
  };
}
