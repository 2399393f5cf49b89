import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';

/** When repeated failed logins lock a user, and for how long. */
export interface LockoutSettings {
  /** Failed logins within the window that lock the user. */
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}

/** 5 failures in 15 minutes lock a user for 15 minutes, in line with common PAM defaults. */
export const DEFAULT_LOCKOUT: LockoutSettings = {
  maxFailures: 5,
  windowSeconds: 15 * 60,
  lockSeconds: 15 * 60,
};

export interface LoginGuardOptions {
  users: Pick<UserRepository, 'recordLoginFailure' | 'lockUser' | 'clearLoginFailures'>;
  audit: AuditLog;
  logger: Logger;
  settings: LockoutSettings;
  now: () => Date;
}

/** Counts failed logins per user and locks the user when the count reaches the limit. */
export class LoginGuard {
  readonly #options: LoginGuardOptions;

  constructor(options: LoginGuardOptions) {
    this.#options = options;
  }

  /** Throws SR_USER_LOCKED while the user is locked. */
  assertNotLocked(user: UserRecord): void {
    const lockedUntil = user.loginFailures?.lockedUntil;
    if (lockedUntil === undefined || Date.parse(lockedUntil) <= this.#options.now().getTime()) {
      return;
    }

    throw new StrongroomError(
      'SR_USER_LOCKED',
      `The user is locked after repeated failed logins until ${lockedUntil}. Wait until then, or ask an administrator to run 'strongroom user unlock'.`,
      { details: { lockedUntil } },
    );
  }

  /** Counts a failure and locks the user, with an `auth.lockout` audit event, at the limit. */
  async recordFailure(user: UserRecord, clientAddress: string): Promise<void> {
    const { settings, now } = this.#options;
    const at = now();
    const windowStartsAfter = new Date(at.getTime() - settings.windowSeconds * 1000);
    const count = await this.#options.users.recordLoginFailure(
      user.id,
      at.toISOString(),
      windowStartsAfter.toISOString(),
    );
    if (count < settings.maxFailures) {
      return;
    }

    const lockedUntil = new Date(at.getTime() + settings.lockSeconds * 1000).toISOString();
    await this.#options.users.lockUser(user.id, lockedUntil);
    this.#options.logger.warn(
      { userId: user.id, username: user.username, failures: count, lockedUntil, clientAddress },
      'user locked after failed logins',
    );
    await this.#options.audit.record({
      actor: user.username,
      action: 'auth.lockout',
      objectType: 'user',
      objectId: user.id,
      outcome: 'success',
      reason: '',
      clientAddress,
      details: { failures: count, lockedUntil },
    });
  }

  /** Clears the count after a successful login, when there is one to clear. */
  async clear(user: UserRecord): Promise<void> {
    const failures = user.loginFailures;
    if (failures === undefined || (failures.count === 0 && failures.lockedUntil === undefined)) {
      return;
    }
    await this.#options.users.clearLoginFailures(user.id);
  }
}

/** Throws SR_CONFIG_VALUE_INVALID unless every setting is a whole number greater than 0. */
export function validateLockoutSettings(settings: LockoutSettings): void {
  for (const [name, value] of Object.entries(settings)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new StrongroomError(
        'SR_CONFIG_VALUE_INVALID',
        `The lockout setting ${name} is ${value}. Set it to a whole number greater than 0.`,
        { details: { setting: name } },
      );
    }
  }
}
