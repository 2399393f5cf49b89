import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';

type AdministratorCount = Pick<UserRepository, 'countActiveAdministrators'>;

/**
 * Throws SR_SELF_ADMINISTRATION when the actor would disable their own user, and
 * SR_LAST_ADMINISTRATOR when `user` is the last active administrator. Call it inside the
 * transaction of the change, so that the count it reads is the one the change commits against.
 */
export async function assertStatusChangeAllowed(
  users: AdministratorCount,
  user: UserRecord,
  actor: { username: string },
): Promise<void> {
  assertNotSelf(user, actor, 'disable');
  await assertNotLastAdministrator(users, user, 'disabled');
}

/** Like assertStatusChangeAllowed, for a change of the role of `user` to `role`. */
export async function assertRoleChangeAllowed(
  users: AdministratorCount,
  user: UserRecord,
  role: string,
  actor: { username: string },
): Promise<void> {
  assertNotSelf(user, actor, 'change the role of');
  if (role !== 'administrator') {
    await assertNotLastAdministrator(users, user, `given the role ${role}`);
  }
}

function assertNotSelf(user: UserRecord, actor: { username: string }, verb: string): void {
  if (user.username === actor.username) {
    throw new StrongroomError(
      'SR_SELF_ADMINISTRATION',
      `User ${user.username} cannot ${verb} their own user. Ask another administrator.`,
      { details: { userId: user.id } },
    );
  }
}

async function assertNotLastAdministrator(
  users: AdministratorCount,
  user: UserRecord,
  change: string,
): Promise<void> {
  if (user.role !== 'administrator' || user.disabled) {
    return;
  }
  if ((await users.countActiveAdministrators()) <= 1) {
    throw new StrongroomError(
      'SR_LAST_ADMINISTRATOR',
      `User ${user.username} is the last active administrator and cannot be ${change}. Create or enable another administrator first.`,
      { details: { userId: user.id } },
    );
  }
}
