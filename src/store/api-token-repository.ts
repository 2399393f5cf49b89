import type { Kysely, Selectable } from 'kysely';

import { StrongroomError } from '../errors.js';
import { constraints, isForeignKeyViolation } from './constraints.js';
import type { ApiTokenRecord, ApiTokenRepository } from './repositories.js';
import type { ApiTokenTable, Database } from './schema.js';

/** API tokens of applications, stored as SHA-256 hashes, with the accounts each may read. */
export class KyselyApiTokenRepository implements ApiTokenRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insertToken(record: ApiTokenRecord): Promise<void> {
    await this.#db.transaction().execute(async (transaction) => {
      await transaction
        .insertInto('api_tokens')
        .values({
          id: record.id,
          name: record.name,
          token_hash: record.tokenHash,
          created_by: record.createdBy,
          created_at: record.createdAt,
          expires_at: record.expiresAt,
          allowed_networks: JSON.stringify(record.allowedNetworks),
          revoked_at: record.revokedAt ?? null,
          revoked_by: record.revokedBy ?? null,
        })
        .execute();

      try {
        await transaction
          .insertInto('api_token_accounts')
          .values(
            record.accountIds.map((accountId) => ({ token_id: record.id, account_id: accountId })),
          )
          .execute();
      } catch (error) {
        if (isForeignKeyViolation(error, constraints.apiTokenAccountsAccount)) {
          throw new StrongroomError(
            'SR_NOT_FOUND',
            'An account of the token scope does not exist, so no token was created. List the accounts and name existing ones.',
            { cause: error },
          );
        }
        throw error;
      }
    });
  }

  async findTokenByHash(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.#db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row === undefined ? undefined : this.#withScope(row);
  }

  async findToken(id: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.#db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : this.#withScope(row);
  }

  async listTokens(): Promise<ApiTokenRecord[]> {
    const rows = await this.#db
      .selectFrom('api_tokens')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    const scopes = await this.#db
      .selectFrom('api_token_accounts')
      .select(['token_id', 'account_id'])
      .orderBy('account_id')
      .execute();
    return rows.map((row) =>
      toRecord(
        row,
        scopes.filter((scope) => scope.token_id === row.id).map((scope) => scope.account_id),
      ),
    );
  }

  async revokeToken(id: string, revokedAt: string, revokedBy: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('api_tokens')
      .set({ revoked_at: revokedAt, revoked_by: revokedBy })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deleteToken(id: string): Promise<void> {
    await this.#db.transaction().execute(async (transaction) => {
      await transaction.deleteFrom('api_token_accounts').where('token_id', '=', id).execute();
      await transaction.deleteFrom('api_tokens').where('id', '=', id).execute();
    });
  }

  async #withScope(row: Selectable<ApiTokenTable>): Promise<ApiTokenRecord> {
    const scope = await this.#db
      .selectFrom('api_token_accounts')
      .select('account_id')
      .where('token_id', '=', row.id)
      .orderBy('account_id')
      .execute();
    return toRecord(
      row,
      scope.map((entry) => entry.account_id),
    );
  }
}

function toRecord(row: Selectable<ApiTokenTable>, accountIds: string[]): ApiTokenRecord {
  return {
    id: row.id,
    name: row.name,
    tokenHash: row.token_hash,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    allowedNetworks: JSON.parse(row.allowed_networks) as string[],
    accountIds,
    revokedAt: row.revoked_at ?? undefined,
    revokedBy: row.revoked_by ?? undefined,
  };
}
