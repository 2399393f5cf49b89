import type { Kysely } from 'kysely';

import { StrongroomError } from '../errors.js';
import { insertSecretVersion } from './account-rows.js';
import { insertDek } from './key-repository.js';
import type {
  DekRecord,
  SecretVersionMetadata,
  SecretVersionRecord,
  SecretVersionRepository,
} from './repositories.js';
import type { Database } from './schema.js';

/** Secret versions of accounts, each under a DEK of its own. */
export class KyselySecretVersionRepository implements SecretVersionRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async addVersion(version: SecretVersionRecord, dek: DekRecord): Promise<void> {
    if (version.dekId !== dek.id) {
      throw new RangeError(
        `version.dekId must be the id of the DEK inserted with it ('${dek.id}'), got '${version.dekId}'`,
      );
    }

    await this.#db.transaction().execute(async (transaction) => {
      // The update comes first, so that a missing account or a stale version changes nothing.
      const updated = await transaction
        .updateTable('accounts')
        .set({
          secret_version: version.version,
          updated_at: version.createdAt,
          rotation_required: 0,
        })
        .where('id', '=', version.accountId)
        .where('secret_version', '=', version.version - 1)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        throw await this.#describeStale(transaction, version);
      }

      await insertDek(transaction, dek);
      await insertSecretVersion(transaction, version);
      await transaction
        .updateTable('accounts')
        .set({ dek_id: dek.id })
        .where('id', '=', version.accountId)
        .execute();
    });
  }

  async removeLatestVersion(
    version: SecretVersionMetadata,
    previous: { version: number; dekId: string; updatedAt: string; rotationRequired: boolean },
  ): Promise<boolean> {
    return this.#db.transaction().execute(async (transaction) => {
      const restored = await transaction
        .updateTable('accounts')
        .set({
          secret_version: previous.version,
          dek_id: previous.dekId,
          updated_at: previous.updatedAt,
          rotation_required: previous.rotationRequired ? 1 : 0,
        })
        .where('id', '=', version.accountId)
        .where('secret_version', '=', version.version)
        .executeTakeFirst();
      if (restored.numUpdatedRows === 0n) {
        return false;
      }

      await transaction
        .deleteFrom('account_secret_versions')
        .where('account_id', '=', version.accountId)
        .where('version', '=', version.version)
        .execute();
      await transaction.deleteFrom('deks').where('id', '=', version.dekId).execute();
      return true;
    });
  }

  async listVersions(accountId: string): Promise<SecretVersionMetadata[]> {
    const rows = await this.#db
      .selectFrom('account_secret_versions')
      .select([
        'account_id',
        'version',
        'secret_type',
        'dek_id',
        'created_at',
        'created_by',
        'reason',
      ])
      .where('account_id', '=', accountId)
      .orderBy('version', 'desc')
      .execute();
    return rows.map((row) => ({
      accountId: row.account_id,
      version: row.version,
      secretType: row.secret_type,
      dekId: row.dek_id,
      createdAt: row.created_at,
      createdBy: row.created_by,
      reason: row.reason,
    }));
  }

  async #describeStale(
    db: Kysely<Database>,
    version: SecretVersionRecord,
  ): Promise<StrongroomError> {
    const account = await db
      .selectFrom('accounts')
      .select('secret_version')
      .where('id', '=', version.accountId)
      .executeTakeFirst();
    if (account === undefined) {
      return new StrongroomError('SR_NOT_FOUND', `Account ${version.accountId} does not exist.`, {
        details: { accountId: version.accountId },
      });
    }
    return new StrongroomError(
      'SR_SECRET_VERSION_CONFLICT',
      `The secret of account ${version.accountId} is at version ${account.secret_version}, not ${version.version - 1}, because another request stored a version first. Retry the change.`,
      { details: { accountId: version.accountId, currentVersion: account.secret_version } },
    );
  }
}
