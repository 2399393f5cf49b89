import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';
import { createUser, isRole, requiresTotp, type NewUser, type Role } from './users.js';

/** A user as administrators and auditors see it: never a hash or a secret. */
export interface UserSummary {
  id: string;
  username: string;
  role: string;
  disabled: boolean;
  createdAt: string;
  /** `enrolled`, `pending` (a secret waits for its first code) or `none`. */
  totp: 'enrolled' | 'pending' | 'none';
  totpRequired: boolean;
  lockedUntil: string | undefined;
}

/** The administrator, or the operating-system user of a CLI command, and where they act from. */
export interface AdminActor {
  username: string;
  clientAddress: string;
}

export type UserAdminRepository = Pick<
  UserRepository,
  | 'insertUser'
  | 'findUserById'
  | 'listUsers'
  | 'resetTotp'
  | 'clearLoginFailures'
  | 'deleteSessionsOfUser'
>;

/** User administration: create, list, unlock and reset the second factor, each audited. */
export class UserAdminService {
  readonly #users: UserAdminRepository;
  readonly #audit: AuditLog;
  readonly #now: () => Date;

  constructor(users: UserAdminRepository, audit: AuditLog, now: () => Date = () => new Date()) {
    this.#users = users;
    this.#audit = audit;
    this.#now = now;
  }

  async create(input: NewUser, actor: AdminActor): Promise<UserSummary> {
    const created = await createUser({ users: this.#users }, input, {
      audit: { log: this.#audit, actor: actor.username, clientAddress: actor.clientAddress },
      now: this.#now,
    });
    return this.get(created.id);
  }

  async list(): Promise<UserSummary[]> {
    return (await this.#users.listUsers()).map(summarizeUser);
  }

  async get(id: string): Promise<UserSummary> {
    return summarizeUser(await this.#requireUser(id));
  }

  /** Clears the failed-login count and lock of a user and records `user.unlock`. */
  async unlock(id: string, actor: AdminActor): Promise<UserSummary> {
    const user = await this.#requireUser(id);
    await this.#users.clearLoginFailures(user.id);
    await this.#record('user.unlock', user, actor, {
      lockedUntil: user.loginFailures?.lockedUntil ?? '',
    });
    return this.get(id);
  }

  /**
   * Deletes the TOTP secret of a user and ends their sessions, so that the next login enrols a new
   * one. Records `user.totp.reset`.
   */
  async resetTotp(id: string, actor: AdminActor): Promise<UserSummary> {
    const user = await this.#requireUser(id);
    await this.#users.resetTotp(user.id);
    await this.#users.deleteSessionsOfUser(user.id);
    await this.#record('user.totp.reset', user, actor, {});
    return this.get(id);
  }

  async #requireUser(id: string): Promise<UserRecord> {
    const user = await this.#users.findUserById(id);
    if (user === undefined) {
      throw new StrongroomError('SR_NOT_FOUND', `User ${id} does not exist.`, {
        details: { userId: id },
      });
    }
    return user;
  }

  async #record(
    action: string,
    user: UserRecord,
    actor: AdminActor,
    details: Record<string, string>,
  ): Promise<void> {
    await this.#audit.record({
      actor: actor.username,
      action,
      objectType: 'user',
      objectId: user.id,
      outcome: 'success',
      reason: '',
      clientAddress: actor.clientAddress,
      details: { username: user.username, ...details },
    });
  }
}

export function summarizeUser(user: UserRecord): UserSummary {
  const role = user.role;
  return {
    id: user.id,
    username: user.username,
    role,
    disabled: user.disabled,
    createdAt: user.createdAt,
    totp:
      user.totp === undefined
        ? 'none'
        : user.totp.confirmedAt === undefined
          ? 'pending'
          : 'enrolled',
    totpRequired: isRole(role) && requiresTotp(role as Role),
    lockedUntil: user.loginFailures?.lockedUntil,
  };
}
