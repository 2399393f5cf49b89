import { sql, type Kysely, type Selectable } from 'kysely';

import { StrongroomError } from '../errors.js';
import { constraints, isForeignKeyViolation, isUniqueViolation } from './constraints.js';
import type { ApiSessionRecord, DekRecord, UserRecord, UserRepository } from './repositories.js';
import type { ApiSessionTable, Database, UserTable } from './schema.js';
import * as security from './user-security.js';

/**
 * Users and their API sessions. A new user name must differ from every other regardless of case;
 * login looks a name up exactly as stored.
 */
export class KyselyUserRepository implements UserRepository {
  readonly #db: Kysely<Database>;
  readonly #dialect: 'sqlite' | 'postgres';

  constructor(db: Kysely<Database>, dialect: 'sqlite' | 'postgres') {
    this.#db = db;
    this.#dialect = dialect;
  }

  /**
   * Throws SR_USER_EXISTS, naming the existing user, when a name equal regardless of case exists.
   * The name is checked before the insert because a failed insert aborts a PostgreSQL transaction.
   * The unique index on lower(username) still rejects a name that another node inserts in between.
   */
  async insertUser(record: UserRecord): Promise<void> {
    const existing = await this.#db
      .selectFrom('users')
      .select('username')
      .where(sql<string>`lower(username)`, '=', record.username.toLowerCase())
      .executeTakeFirst();
    if (existing !== undefined) {
      throw userExists(record.username, existing.username);
    }
    try {
      await this.#db
        .insertInto('users')
        .values({
          id: record.id,
          username: record.username,
          password_hash: record.passwordHash,
          role: record.role,
          created_at: record.createdAt,
          disabled: record.disabled ? 1 : 0,
        })
        .execute();
    } catch (error) {
      if (
        isUniqueViolation(error, constraints.usersUsername) ||
        isUniqueViolation(error, constraints.usersUsernameFolded)
      ) {
        throw userExists(record.username, record.username, error);
      }
      if (isUniqueViolation(error, constraints.usersPrimaryKey)) {
        throw new StrongroomError('SR_CONFLICT', `A user with the id '${record.id}' exists.`, {
          cause: error,
          details: { userId: record.id },
        });
      }
      throw error;
    }
  }

  async findUserByName(username: string): Promise<UserRecord | undefined> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', username)
      .executeTakeFirst();
    return row === undefined ? undefined : toUserRecord(row);
  }

  async findUserById(id: string): Promise<UserRecord | undefined> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toUserRecord(row);
  }

  async countUsers(): Promise<number> {
    const row = await this.#db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return row.count;
  }

  /** Throws SR_NOT_FOUND when the user does not exist. */
  async insertSession(record: ApiSessionRecord): Promise<void> {
    try {
      await this.#db
        .insertInto('api_sessions')
        .values({
          token_hash: record.tokenHash,
          user_id: record.userId,
          created_at: record.createdAt,
          expires_at: record.expiresAt,
          client_address: record.clientAddress,
          scope: record.scope ?? 'full',
        })
        .execute();
    } catch (error) {
      if (isForeignKeyViolation(error, constraints.apiSessionsUser)) {
        throw new StrongroomError(
          'SR_NOT_FOUND',
          `No user has the id '${record.userId}', so no session was created.`,
          {
            cause: error,
            details: { userId: record.userId },
          },
        );
      }
      // The token hash is not named: it identifies a live session.
      if (isUniqueViolation(error, constraints.apiSessionsPrimaryKey)) {
        throw new StrongroomError('SR_CONFLICT', 'A session with the same token hash exists.', {
          cause: error,
        });
      }
      throw error;
    }
  }

  async findSession(tokenHash: string): Promise<ApiSessionRecord | undefined> {
    const row = await this.#db
      .selectFrom('api_sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row === undefined ? undefined : toSessionRecord(row);
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.#db.deleteFrom('api_sessions').where('token_hash', '=', tokenHash).execute();
  }

  async deleteSessionsOfUser(userId: string): Promise<void> {
    await this.#db.deleteFrom('api_sessions').where('user_id', '=', userId).execute();
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(toUserRecord);
  }

  async setUserDisabled(userId: string, disabled: boolean): Promise<void> {
    await this.#db
      .updateTable('users')
      .set({ disabled: disabled ? 1 : 0 })
      .where('id', '=', userId)
      .execute();
  }

  async setUserRole(userId: string, role: string): Promise<void> {
    await this.#db.updateTable('users').set({ role }).where('id', '=', userId).execute();
  }

  /**
   * On PostgreSQL the rows are locked until the transaction ends, so two transactions that each
   * disable one of the last two administrators run one after the other and the second counts one.
   * SQLite runs one write transaction at a time.
   */
  async countActiveAdministrators(): Promise<number> {
    let query = this.#db
      .selectFrom('users')
      .select('id')
      .where('role', '=', 'administrator')
      .where('disabled', '=', 0);
    if (this.#dialect === 'postgres') {
      query = query.forUpdate();
    }
    return (await query.execute()).length;
  }

  setPendingTotp(userId: string, dek: DekRecord, ciphertext: Buffer): Promise<void> {
    return security.setPendingTotp(this.#db, userId, dek, ciphertext);
  }

  confirmTotp(userId: string, confirmedAt: string, step: number): Promise<boolean> {
    return security.confirmTotp(this.#db, userId, confirmedAt, step);
  }

  claimTotpStep(userId: string, step: number): Promise<boolean> {
    return security.claimTotpStep(this.#db, userId, step);
  }

  resetTotp(userId: string): Promise<void> {
    return security.resetTotp(this.#db, userId);
  }

  recordLoginFailure(userId: string, now: string, windowStartsAfter: string): Promise<number> {
    return security.recordLoginFailure(this.#db, userId, now, windowStartsAfter);
  }

  lockUser(userId: string, lockedUntil: string): Promise<void> {
    return security.lockUser(this.#db, userId, lockedUntil);
  }

  clearLoginFailures(userId: string): Promise<void> {
    return security.clearLoginFailures(this.#db, userId);
  }

  /**
   * Deletes the sessions whose expiry is at or before `now` and returns how many were deleted.
   * Timestamps compare as text, which orders ISO 8601 UTC strings of one format by time.
   */
  async deleteExpiredSessions(now: string): Promise<number> {
    const result = await this.#db
      .deleteFrom('api_sessions')
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function userExists(username: string, existing: string, cause?: unknown): StrongroomError {
  const message =
    existing === username
      ? `A user named '${existing}' exists. Choose another user name.`
      : `The user '${existing}' exists, and user names are compared regardless of case. Choose another user name than '${username}'.`;
  return new StrongroomError('SR_USER_EXISTS', message, {
    ...(cause === undefined ? {} : { cause }),
    details: { username, existing },
  });
}

function toUserRecord(row: Selectable<UserTable>): UserRecord {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    role: row.role,
    disabled: row.disabled !== 0,
    createdAt: row.created_at,
    totp:
      row.totp_dek_id === null || row.totp_secret_ciphertext === null
        ? undefined
        : {
            dekId: row.totp_dek_id,
            ciphertext: row.totp_secret_ciphertext,
            confirmedAt: row.totp_confirmed_at ?? undefined,
            lastStep: row.totp_last_step === null ? undefined : Number(row.totp_last_step),
          },
    loginFailures:
      Number(row.failed_login_count) === 0 && row.locked_until === null
        ? undefined
        : {
            count: Number(row.failed_login_count),
            windowStart: row.failed_login_window_start ?? undefined,
            lockedUntil: row.locked_until ?? undefined,
          },
  };
}

function toSessionRecord(row: Selectable<ApiSessionTable>): ApiSessionRecord {
  return {
    tokenHash: row.token_hash,
    userId: row.user_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    clientAddress: row.client_address,
    scope: row.scope === 'enrolment' ? 'enrolment' : 'full',
  };
}
