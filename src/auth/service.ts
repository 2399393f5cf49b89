import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { SessionScope, UserRecord, UserRepository } from '../store/repositories.js';
import {
  DEFAULT_LOCKOUT,
  LoginGuard,
  validateLockoutSettings,
  type LockoutSettings,
} from './lockout.js';
import { LoginChecker, type LoginRequest } from './login.js';
import type { TotpSecretKeys } from './totp-secrets.js';
import { generateToken, hashToken, isWellFormedToken } from './tokens.js';
import { isRole, requiresTotp, type Role } from './users.js';

export type { LoginRequest } from './login.js';

export const DEFAULT_SESSION_TTL_SECONDS = 8 * 60 * 60;

/** Lifetime of a session that may only enrol TOTP: long enough to scan a QR code and type a code. */
export const ENROLMENT_SESSION_TTL_SECONDS = 10 * 60;

/** The user behind a valid bearer token. */
export interface AuthenticatedUser {
  id: string;
  username: string;
  role: Role;
  sessionExpiresAt: string;
  /** `enrolment` until a user whose role requires TOTP has enrolled it. */
  sessionScope: SessionScope;
}

export interface LoginResult {
  token: string;
  expiresAt: string;
  scope: SessionScope;
  user: AuthenticatedUser;
}

/** Password and TOTP login and bearer-token sessions. */
export interface AuthService {
  /**
   * Verifies the password and, once enrolled, the TOTP code, and issues a token. A user whose role
   * requires TOTP and who has not enrolled it gets an `enrolment` session. Throws SR_AUTH_FAILED for
   * any wrong credential, SR_TOTP_REQUIRED without a code and SR_USER_LOCKED while locked.
   */
  login(request: LoginRequest): Promise<LoginResult>;
  /** Returns the user of a token. Throws SR_AUTH_REQUIRED for a malformed, unknown or expired token. */
  authenticate(token: string): Promise<AuthenticatedUser>;
  /** Deletes the session of the token and records `auth.logout`. */
  logout(token: string, user: AuthenticatedUser, clientAddress: string): Promise<void>;
}

export type SessionRepository = Pick<
  UserRepository,
  | 'findUserByName'
  | 'findUserById'
  | 'insertSession'
  | 'findSession'
  | 'deleteSession'
  | 'deleteExpiredSessions'
  | 'claimTotpStep'
  | 'recordLoginFailure'
  | 'lockUser'
  | 'clearLoginFailures'
>;

export interface AuthServiceOptions {
  users: SessionRepository;
  audit: AuditLog;
  logger: Logger;
  /** Opens the sealed TOTP secrets of enrolled users. */
  totpKeys: TotpSecretKeys;
  /** Lifetime of a bearer token in seconds, 8 hours by default. */
  sessionTtlSeconds?: number;
  lockout?: LockoutSettings;
  now?: () => Date;
}

/**
 * Creates the login service. Throws SR_CONFIG_VALUE_INVALID for a session lifetime or a lockout
 * setting that is not a positive whole number.
 */
export function createAuthService(options: AuthServiceOptions): AuthService {
  const ttlSeconds = options.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS;

  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `The session lifetime ${ttlSeconds} is invalid. Set it to a whole number of seconds greater than 0.`,
      { details: { sessionTtlSeconds: ttlSeconds } },
    );
  }
  validateLockoutSettings(options.lockout ?? DEFAULT_LOCKOUT);

  return new SessionAuthService(options, ttlSeconds);
}

class SessionAuthService implements AuthService {
  readonly #users: SessionRepository;
  readonly #audit: AuditLog;
  readonly #logger: Logger;
  readonly #ttlSeconds: number;
  readonly #now: () => Date;
  readonly #checker: LoginChecker;

  constructor(options: AuthServiceOptions, ttlSeconds: number) {
    this.#users = options.users;
    this.#audit = options.audit;
    this.#logger = options.logger;
    this.#ttlSeconds = ttlSeconds;
    this.#now = options.now ?? (() => new Date());
    const guard = new LoginGuard({
      users: options.users,
      audit: options.audit,
      logger: options.logger,
      settings: options.lockout ?? DEFAULT_LOCKOUT,
      now: this.#now,
    });
    this.#checker = new LoginChecker({
      users: options.users,
      audit: options.audit,
      logger: options.logger,
      guard,
      totpKeys: options.totpKeys,
      now: this.#now,
    });
  }

  async login(request: LoginRequest): Promise<LoginResult> {
    const user = await this.#checker.check(request);
    const enrolled = user.totp?.confirmedAt !== undefined;
    const scope: SessionScope = !enrolled && requiresTotp(user.role) ? 'enrolment' : 'full';
    return this.#startSession(request, user, scope);
  }
  async authenticate(token: string): Promise<AuthenticatedUser> {
    if (!isWellFormedToken(token)) {
      throw new StrongroomError(
        'SR_AUTH_REQUIRED',
        'The bearer token is malformed. Log in again to get a new token.',
      );
    }

    const tokenHash = hashToken(token);
    const session = await this.#users.findSession(tokenHash);
    if (session === undefined) {
      throw new StrongroomError(
        'SR_AUTH_REQUIRED',
        'The bearer token is unknown or was logged out. Log in again to get a new token.',
      );
    }

    if (Date.parse(session.expiresAt) <= this.#now().getTime()) {
      await this.#users.deleteSession(tokenHash);
      throw new StrongroomError(
        'SR_AUTH_REQUIRED',
        `The bearer token expired at ${session.expiresAt}. Log in again to get a new token.`,
      );
    }

    const user = await this.#users.findUserById(session.userId);
    if (user === undefined || user.disabled || !isRole(user.role)) {
      await this.#users.deleteSession(tokenHash);
      throw new StrongroomError(
        'SR_AUTH_REQUIRED',
        'The user of the bearer token no longer exists or is disabled.',
      );
    }

    return {
      id: user.id,
      username: user.username,
      role: user.role,
      sessionExpiresAt: session.expiresAt,
      sessionScope: session.scope ?? 'full',
    };
  }

  async logout(token: string, user: AuthenticatedUser, clientAddress: string): Promise<void> {
    await this.#users.deleteSession(hashToken(token));

    await this.#audit.record({
      actor: user.username,
      action: 'auth.logout',
      objectType: 'user',
      objectId: user.id,
      outcome: 'success',
      reason: '',
      clientAddress,
      details: {},
    });
  }

  async #startSession(
    request: LoginRequest,
    user: UserRecord & { role: Role },
    scope: SessionScope,
  ): Promise<LoginResult> {
    const issuedAt = this.#now();
    const ttlSeconds =
      scope === 'enrolment'
        ? Math.min(this.#ttlSeconds, ENROLMENT_SESSION_TTL_SECONDS)
        : this.#ttlSeconds;
    const expiresAt = new Date(issuedAt.getTime() + ttlSeconds * 1000).toISOString();
    const token = generateToken();
    const tokenHash = hashToken(token);

    await this.#users.insertSession({
      tokenHash,
      userId: user.id,
      createdAt: issuedAt.toISOString(),
      expiresAt,
      clientAddress: request.clientAddress,
      scope,
    });

    // The session is stored first so that the audit event records a login that happened. If the
    // event cannot be written, the session is deleted and the login is rejected.
    try {
      await this.#audit.record({
        actor: user.username,
        action: 'auth.login',
        objectType: 'user',
        objectId: user.id,
        outcome: 'success',
        reason: '',
        clientAddress: request.clientAddress,
        details: { role: user.role, expiresAt, scope },
      });
    } catch (error) {
      await this.#users.deleteSession(tokenHash).catch((deleteError: unknown) => {
        this.#logger.error(
          { err: deleteError, userId: user.id },
          'session of a rejected login could not be deleted',
        );
      });
      throw error;
    }

    await this.#deleteExpiredSessions(issuedAt);
    this.#logger.info(
      { userId: user.id, username: user.username, clientAddress: request.clientAddress, scope },
      'login succeeded',
    );

    return {
      token,
      expiresAt,
      scope,
      user: {
        id: user.id,
        username: user.username,
        role: user.role,
        sessionExpiresAt: expiresAt,
        sessionScope: scope,
      },
    };
  }

  async #deleteExpiredSessions(at: Date): Promise<void> {
    try {
      await this.#users.deleteExpiredSessions(at.toISOString());
    } catch (error) {
      this.#logger.warn({ err: error }, 'expired sessions could not be deleted');
    }
  }
}
