import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';
import { getDummyPasswordHash, verifyPassword } from './passwords.js';
import { generateToken, hashToken, isWellFormedToken } from './tokens.js';
import { isRole, type Role } from './users.js';

export const DEFAULT_SESSION_TTL_SECONDS = 8 * 60 * 60;

/** The user behind a valid bearer token. */
export interface AuthenticatedUser {
  id: string;
  username: string;
  role: Role;
  sessionExpiresAt: string;
}

export interface LoginRequest {
  username: string;
  password: string;
  clientAddress: string;
}

export interface LoginResult {
  token: string;
  expiresAt: string;
  user: AuthenticatedUser;
}

/** Password login and bearer-token sessions. */
export interface AuthService {
  /** Verifies the password and issues a token. Throws SR_AUTH_FAILED for any wrong credential. */
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
>;

export interface AuthServiceOptions {
  users: SessionRepository;
  audit: AuditLog;
  logger: Logger;
  /** Lifetime of a bearer token in seconds, 8 hours by default. */
  sessionTtlSeconds?: number;
  now?: () => Date;
}

/** Cause of a failed login, kept in the audit event and the log but never sent to the client. */
type LoginFailure = 'unknown user' | 'wrong password' | 'user disabled' | 'unknown role';

type LoginCheck = { user: UserRecord & { role: Role } } | { failure: LoginFailure };

const LOGIN_FAILED_MESSAGE = 'The user name or password is wrong. Check both and log in again.';

/**
 * Creates the login service. Throws SR_CONFIG_VALUE_INVALID for a session lifetime that is not a
 * positive whole number of seconds.
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

  return new SessionAuthService(options, ttlSeconds);
}

class SessionAuthService implements AuthService {
  readonly #users: SessionRepository;
  readonly #audit: AuditLog;
  readonly #logger: Logger;
  readonly #ttlSeconds: number;
  readonly #now: () => Date;

  constructor(options: AuthServiceOptions, ttlSeconds: number) {
    this.#users = options.users;
    this.#audit = options.audit;
    this.#logger = options.logger;
    this.#ttlSeconds = ttlSeconds;
    this.#now = options.now ?? (() => new Date());
  }

  async login(request: LoginRequest): Promise<LoginResult> {
    const user = await this.#users.findUserByName(request.username);
    const passwordMatches = await this.#checkPassword(user, request.password);

    const check = checkLogin(user, passwordMatches);
    if ('failure' in check) {
      await this.#recordLoginFailure(request, user, check.failure);
      throw new StrongroomError('SR_AUTH_FAILED', LOGIN_FAILED_MESSAGE);
    }

    return this.#startSession(request, check.user);
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

  async #checkPassword(user: UserRecord | undefined, password: string): Promise<boolean> {
    // An unknown user is checked against the dummy hash so that the argon2 work is the same.
    const passwordHash = user?.passwordHash ?? (await getDummyPasswordHash());

    try {
      return await verifyPassword(passwordHash, password);
    } catch (error) {
      this.#logger.error({ err: error, userId: user?.id }, 'stored password hash is malformed');
      return false;
    }
  }

  async #recordLoginFailure(
    request: LoginRequest,
    user: UserRecord | undefined,
    failure: LoginFailure,
  ): Promise<void> {
    this.#logger.info(
      { username: request.username, clientAddress: request.clientAddress, failure },
      'login failed',
    );

    await this.#audit.record({
      actor: request.username,
      action: 'auth.login',
      objectType: 'user',
      objectId: user?.id ?? '',
      outcome: 'failure',
      reason: '',
      clientAddress: request.clientAddress,
      details: { failure },
    });
  }

  async #startSession(
    request: LoginRequest,
    user: UserRecord & { role: Role },
  ): Promise<LoginResult> {
    const issuedAt = this.#now();
    const expiresAt = new Date(issuedAt.getTime() + this.#ttlSeconds * 1000).toISOString();
    const token = generateToken();
    const tokenHash = hashToken(token);

    await this.#users.insertSession({
      tokenHash,
      userId: user.id,
      createdAt: issuedAt.toISOString(),
      expiresAt,
      clientAddress: request.clientAddress,
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
        details: { role: user.role, expiresAt },
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
      { userId: user.id, username: user.username, clientAddress: request.clientAddress },
      'login succeeded',
    );

    return {
      token,
      expiresAt,
      user: { id: user.id, username: user.username, role: user.role, sessionExpiresAt: expiresAt },
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

/**
 * Returns the user when the login may proceed, or why it fails. The state of the user is checked
 * only after the password has been verified, so that every outcome costs the same argon2 work.
 */
function checkLogin(user: UserRecord | undefined, passwordMatches: boolean): LoginCheck {
  if (user === undefined) {
    return { failure: 'unknown user' };
  }

  if (!passwordMatches) {
    return { failure: 'wrong password' };
  }

  if (user.disabled) {
    return { failure: 'user disabled' };
  }

  const role = user.role;
  if (!isRole(role)) {
    return { failure: 'unknown role' };
  }

  return { user: { ...user, role } };
}
