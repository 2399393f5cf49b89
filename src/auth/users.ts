import { randomUUID } from 'node:crypto';

import { runAudited } from '../audit/atomic.js';
import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRepository } from '../store/repositories.js';
import { hashPassword, validatePassword } from './passwords.js';

export const ROLES = ['administrator', 'auditor', 'operator', 'approver'] as const;

export type Role = (typeof ROLES)[number];

/**
 * Roles that can reveal, approve or break glass, and so must log in with a TOTP second factor.
 * Auditors may enrol one and then must use it.
 */
const TOTP_REQUIRED_ROLES: ReadonlySet<Role> = new Set(['administrator', 'operator', 'approver']);

export function requiresTotp(role: Role): boolean {
  return TOTP_REQUIRED_ROLES.has(role);
}

export const USERNAME_MAX_LENGTH = 64;

/** ASCII letters, digits and `.`, `_`, `-`, `@`, so that names read the same in every log and shell. */
const USERNAME_PATTERN = /^[A-Za-z0-9._@-]+$/;

/** A user as services and the API show it: never the password hash. */
export interface UserView {
  id: string;
  username: string;
  role: Role;
  createdAt: string;
}

export interface NewUser {
  username: string;
  password: string;
  role: string;
}

export interface CreateUserOptions {
  /** When given, the creation is recorded as a `user.create` audit event by this actor. */
  audit?: { log: AuditLog; actor: string; clientAddress: string };
  now?: () => Date;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Checks a user name and throws SR_USER_INVALID naming the rule that failed. */
export function validateUsername(username: string): void {
  if (username.length === 0) {
    throw new StrongroomError(
      'SR_USER_INVALID',
      'The user name is empty. Give a name of 1 to 64 characters.',
      {
        details: { rule: 'username.minLength' },
      },
    );
  }

  if (username.length > USERNAME_MAX_LENGTH) {
    throw new StrongroomError(
      'SR_USER_INVALID',
      `The user name has ${username.length} characters, more than the maximum of ${USERNAME_MAX_LENGTH}. Choose a shorter name.`,
      { details: { rule: 'username.maxLength' } },
    );
  }

  if (!USERNAME_PATTERN.test(username)) {
    throw new StrongroomError(
      'SR_USER_INVALID',
      `The user name ${JSON.stringify(username)} contains a character that is not allowed. Use only letters A-Z and a-z, digits, '.', '_', '-' and '@'.`,
      { details: { rule: 'username.characters' } },
    );
  }
}

/** Checks a role name and throws SR_USER_INVALID listing the valid roles. */
export function validateRole(role: string): asserts role is Role {
  if (!isRole(role)) {
    throw new StrongroomError(
      'SR_USER_INVALID',
      `The role ${JSON.stringify(role)} does not exist. Use one of: ${ROLES.join(', ')}.`,
      { details: { rule: 'role' } },
    );
  }
}

/**
 * Validates and stores a new user with an argon2id password hash. Throws SR_USER_INVALID for a bad
 * name, role or password and SR_USER_EXISTS when the name is taken.
 */
export async function createUser(
  store: { users: Pick<UserRepository, 'insertUser'> },
  input: NewUser,
  options: CreateUserOptions = {},
): Promise<UserView> {
  validateUsername(input.username);
  validateRole(input.role);
  validatePassword(input.password);

  const now = options.now ?? (() => new Date());
  const user: UserView = {
    id: randomUUID(),
    username: input.username,
    role: input.role,
    createdAt: now().toISOString(),
  };
  const passwordHash = await hashPassword(input.password);

  const audited = options.audit;
  if (audited === undefined) {
    await store.users.insertUser({ ...user, passwordHash, disabled: false });
    return user;
  }
  await runAudited(audited.log, { users: store.users }, async ({ users, audit }) => {
    await users.insertUser({ ...user, passwordHash, disabled: false });
    await audit.record({
      actor: audited.actor,
      action: 'user.create',
      objectType: 'user',
      objectId: user.id,
      outcome: 'success',
      reason: '',
      clientAddress: audited.clientAddress,
      details: { username: user.username, role: user.role },
    });
  });

  return user;
}
