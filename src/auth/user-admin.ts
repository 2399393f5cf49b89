import { runAudited } from '../audit/atomic.js';
import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';
import { assertRoleChangeAllowed, assertStatusChangeAllowed } from './admin-guards.js';
import {
  createUser,
  isRole,
  requiresTotp,
  validateRole,
  type NewUser,
  type Role,
} from './users.js';

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
  | 'setUserDisabled'
  | 'setUserRole'
  | 'countActiveAdministrators'
>;

/**
 * User administration: create, list, unlock, reset the second factor, disable, enable and change
 * the role. Each change commits in one transaction with its audit event, or not at all.
 */
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
    await this.#change(async (users, audit) => {
      await users.clearLoginFailures(user.id);
      await record(audit, 'user.unlock', user, actor, {
        lockedUntil: user.loginFailures?.lockedUntil ?? '',
      });
    });
    return this.get(id);
  }

  /**
   * Deletes the TOTP secret of a user and ends their sessions, so that the next login enrols a new
   * one. Records `user.totp.reset`.
   */
  async resetTotp(id: string, actor: AdminActor): Promise<UserSummary> {
    const user = await this.#requireUser(id);
    await this.#change(async (users, audit) => {
      await users.resetTotp(user.id);
      await users.deleteSessionsOfUser(user.id);
      await record(audit, 'user.totp.reset', user, actor, {});
    });
    return this.get(id);
  }

  /**
   * Disables or enables a user. A disabled user cannot log in and all of their sessions end in the
   * same transaction. Records `user.disable` or `user.enable`; a user already in that state is
   * returned unchanged and nothing is recorded.
   */
  async setDisabled(id: string, disabled: boolean, actor: AdminActor): Promise<UserSummary> {
    await this.#change(async (users, audit) => {
      const user = await requireUserIn(users, id);
      if (user.disabled === disabled) {
        return;
      }
      if (disabled) {
        await assertStatusChangeAllowed(users, user, actor);
      }
      await users.setUserDisabled(user.id, disabled);
      await users.deleteSessionsOfUser(user.id);
      await record(audit, disabled ? 'user.disable' : 'user.enable', user, actor, {});
    });
    return this.get(id);
  }

  /** Changes the role of a user and ends their sessions. Records `user.role.change`. */
  async setRole(id: string, role: string, actor: AdminActor): Promise<UserSummary> {
    validateRole(role);
    await this.#change(async (users, audit) => {
      const user = await requireUserIn(users, id);
      if (user.role === role) {
        return;
      }
      await assertRoleChangeAllowed(users, user, role, actor);
      await users.setUserRole(user.id, role);
      await users.deleteSessionsOfUser(user.id);
      await record(audit, 'user.role.change', user, actor, { from: user.role, to: role });
    });
    return this.get(id);
  }

  #change(work: (users: UserAdminRepository, audit: AuditLog) => Promise<void>): Promise<void> {
    return runAudited(this.#audit, { users: this.#users }, ({ users, audit }) =>
      work(users, audit),
    );
  }

  #requireUser(id: string): Promise<UserRecord> {
    return requireUserIn(this.#users, id);
  }
}

async function requireUserIn(
  users: Pick<UserRepository, 'findUserById'>,
  id: string,
): Promise<UserRecord> {
  const user = await users.findUserById(id);
  if (user === undefined) {
    throw new StrongroomError('SR_NOT_FOUND', `User ${id} does not exist.`, {
      details: { userId: id },
    });
  }
  return user;
}

async function record(
  audit: AuditLog,
  action: string,
  user: UserRecord,
  actor: AdminActor,
  details: Record<string, string>,
): Promise<void> {
  await audit.record({
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
