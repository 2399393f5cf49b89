import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';
import type { LoginGuard } from './lockout.js';
import { getDummyPasswordHash, verifyPassword } from './passwords.js';
import { openTotpSecret, type TotpSecretKeys } from './totp-secrets.js';
import { matchTotpCode } from './totp.js';
import { isRole, type Role } from './users.js';

export interface LoginRequest {
  username: string;
  password: string;
  /** The 6-digit code of the authenticator app; required once the user has enrolled TOTP. */
  totpCode?: string | undefined;
  clientAddress: string;
}

/** Cause of a failed login, kept in the audit event and the log but never sent to the client. */
export type LoginFailure =
  | 'unknown user'
  | 'wrong password'
  | 'user disabled'
  | 'unknown role'
  | 'user locked'
  | 'totp code missing'
  | 'wrong totp code'
  | 'totp code reused';

/** Failures that count toward the lockout of a user. A missing code does not: the password was right. */
const COUNTED_FAILURES = new Set<LoginFailure>([
  'wrong password',
  'wrong totp code',
  'totp code reused',
]);

const LOGIN_FAILED_MESSAGE =
  'The user name, password or TOTP code is wrong. Check them and log in again.';

export type LoginUsers = Pick<UserRepository, 'findUserByName' | 'claimTotpStep'>;

export interface LoginCheckerOptions {
  users: LoginUsers;
  audit: AuditLog;
  logger: Logger;
  guard: LoginGuard;
  totpKeys: TotpSecretKeys;
  now: () => Date;
}

/**
 * Checks the password and, for an enrolled user, the TOTP code of a login. Returns the user when
 * both are right and records every failure as an `auth.login` audit event before it throws.
 */
export class LoginChecker {
  readonly #options: LoginCheckerOptions;

  constructor(options: LoginCheckerOptions) {
    this.#options = options;
  }

  async check(request: LoginRequest): Promise<UserRecord & { role: Role }> {
    const user = await this.#options.users.findUserByName(request.username);

    if (user !== undefined) {
      try {
        this.#options.guard.assertNotLocked(user);
      } catch (error) {
        await this.#recordFailure(request, user, 'user locked');
        throw error;
      }
    }

    const passwordMatches = await this.#checkPassword(user, request.password);
    const failure = checkAccount(user, passwordMatches);
    if (failure !== undefined || user === undefined) {
      await this.#recordFailure(request, user, failure ?? 'unknown user');
      throw new StrongroomError('SR_AUTH_FAILED', LOGIN_FAILED_MESSAGE);
    }

    // NOTE: SR_TOTP_REQUIRED tells the client that the password was right, as any two-step login
    // does. The lockout bounds how many passwords a client can try this way.
    const totpFailure = await this.#checkTotp(user, request.totpCode);
    if (totpFailure !== undefined) {
      await this.#recordFailure(request, user, totpFailure);
      throw totpFailure === 'totp code missing'
        ? new StrongroomError(
            'SR_TOTP_REQUIRED',
            'The user has a TOTP second factor. Log in again with the current code of the authenticator app in totpCode.',
          )
        : new StrongroomError('SR_AUTH_FAILED', LOGIN_FAILED_MESSAGE);
    }

    await this.#options.guard.clear(user);
    return user as UserRecord & { role: Role };
  }

  async #checkPassword(user: UserRecord | undefined, password: string): Promise<boolean> {
    // An unknown user is checked against the dummy hash so that the argon2 work is the same.
    const passwordHash = user?.passwordHash ?? (await getDummyPasswordHash());

    try {
      return await verifyPassword(passwordHash, password);
    } catch (error) {
      this.#options.logger.error(
        { err: error, userId: user?.id },
        'stored password hash is malformed',
      );
      return false;
    }
  }

  /** Returns why the TOTP check failed, or undefined when it passed or the user has not enrolled. */
  async #checkTotp(user: UserRecord, code: string | undefined): Promise<LoginFailure | undefined> {
    const totp = user.totp;
    if (totp?.confirmedAt === undefined) {
      return undefined;
    }
    if (code === undefined || code === '') {
      return 'totp code missing';
    }

    const secret = await openTotpSecret(this.#options.totpKeys, user.id, totp);
    const step = matchTotpCode(secret, code, this.#options.now());
    if (step === undefined) {
      return 'wrong totp code';
    }

    // The conditional update accepts each time step once, even when two nodes see the code at once.
    const claimed = await this.#options.users.claimTotpStep(user.id, step);
    return claimed ? undefined : 'totp code reused';
  }

  async #recordFailure(
    request: LoginRequest,
    user: UserRecord | undefined,
    failure: LoginFailure,
  ): Promise<void> {
    this.#options.logger.info(
      { username: request.username, clientAddress: request.clientAddress, failure },
      'login failed',
    );

    await this.#options.audit.record({
      actor: request.username,
      action: 'auth.login',
      objectType: 'user',
      objectId: user?.id ?? '',
      outcome: 'failure',
      reason: '',
      clientAddress: request.clientAddress,
      details: { failure },
    });

    if (user !== undefined && COUNTED_FAILURES.has(failure)) {
      await this.#options.guard.recordFailure(user, request.clientAddress);
    }
  }
}

/**
 * Returns why the login fails before the second factor, or undefined when it may go on. The state
 * of the user is checked only after the password has been verified, so that every outcome costs the
 * same argon2 work.
 */
function checkAccount(
  user: UserRecord | undefined,
  passwordMatches: boolean,
): LoginFailure | undefined {
  if (user === undefined) {
    return 'unknown user';
  }
  if (!passwordMatches) {
    return 'wrong password';
  }
  if (user.disabled) {
    return 'user disabled';
  }
  if (!isRole(user.role)) {
    return 'unknown role';
  }
  return undefined;
}
