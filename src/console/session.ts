import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';

import { hashToken } from '../auth/tokens.js';
import { StrongroomError } from '../errors.js';

/** 15 minutes without a request end a console session, as is usual for an administrative console. */
export const DEFAULT_CONSOLE_IDLE_SECONDS = 15 * 60;

/** Cookie settings of the console; `secure` is true when the service speaks HTTPS. */
export interface ConsoleCookies {
  secure: boolean;
}

/**
 * Returns the name of the session cookie. Over HTTPS the `__Host-` prefix makes the browser
 * reject the cookie unless it is Secure, has Path=/ and no Domain, so no sibling host can set it.
 */
export function sessionCookieName(cookies: ConsoleCookies): string {
  return cookies.secure ? '__Host-strongroom-session' : 'strongroom-session';
}

/** Returns the name of the cookie that carries the anti-forgery token of the login form. */
export function loginCookieName(cookies: ConsoleCookies): string {
  return cookies.secure ? '__Host-strongroom-login' : 'strongroom-login';
}

/** Sets the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS, until `expiresAt`. */
export function setSessionCookie(
  reply: FastifyReply,
  cookies: ConsoleCookies,
  token: string,
  expiresAt: string,
): void {
  void reply.setCookie(sessionCookieName(cookies), token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: cookies.secure,
    path: '/',
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(reply: FastifyReply, cookies: ConsoleCookies): void {
  void reply.clearCookie(sessionCookieName(cookies), {
    httpOnly: true,
    sameSite: 'strict',
    secure: cookies.secure,
    path: '/',
  });
}

/**
 * Sets a fresh random login token in a cookie and returns it for the login form (the double-submit
 * pattern). Without it, another site could post its own credentials and log the browser in as them.
 */
export function issueLoginToken(reply: FastifyReply, cookies: ConsoleCookies): string {
  const token = randomBytes(32).toString('base64url');
  void reply.setCookie(loginCookieName(cookies), token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: cookies.secure,
    path: '/',
  });
  return token;
}

/**
 * Returns the anti-forgery token of a session: a domain-separated SHA-256 of the session token.
 * Every service node derives the same value, and a page of another site cannot read it, because it
 * cannot read the HttpOnly cookie or the console's pages.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256')
    .update('strongroom console csrf\0', 'utf8')
    .update(sessionToken, 'utf8')
    .digest('base64url');
}

/** Throws SR_CONSOLE_CSRF_INVALID unless the posted token equals the expected one. */
export function assertCsrfToken(expected: string, posted: unknown): void {
  const postedBuffer = Buffer.from(typeof posted === 'string' ? posted : '', 'utf8');
  const expectedBuffer = Buffer.from(expected, 'utf8');
  if (
    postedBuffer.length === expectedBuffer.length &&
    timingSafeEqual(postedBuffer, expectedBuffer)
  ) {
    return;
  }

  throw new StrongroomError(
    'SR_CONSOLE_CSRF_INVALID',
    'The form was posted without the anti-forgery token of your session, so nothing was changed. Reload the page and submit the form again.',
  );
}

/** Reads a cookie value, or undefined when the request has none. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const value = request.cookies[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Last request time of each console session, by token hash, for the idle timeout.
 * NOTE: the times are kept in the memory of this process. A session that this process has not seen
 * (after a restart, or on another node behind a load balancer) counts as idle, so the user logs in
 * again. That is safe, but it ties a console session to one node.
 */
export class IdleTracker {
  readonly #lastSeen = new Map<string, number>();
  readonly #idleMs: number;

  constructor(idleSeconds: number) {
    this.#idleMs = idleSeconds * 1000;
  }

  /** Tells whether the session had no request within the idle timeout, or is unknown here. */
  isIdle(token: string, now: Date): boolean {
    const lastSeen = this.#lastSeen.get(hashToken(token));
    return lastSeen === undefined || now.getTime() - lastSeen > this.#idleMs;
  }

  touch(token: string, now: Date): void {
    this.#lastSeen.set(hashToken(token), now.getTime());
    this.#dropIdle(now);
  }

  forget(token: string): void {
    this.#lastSeen.delete(hashToken(token));
  }

  /** Drops idle entries once the map grows, so abandoned sessions do not accumulate. */
  #dropIdle(now: Date): void {
    if (this.#lastSeen.size < 1000) {
      return;
    }
    for (const [hash, lastSeen] of this.#lastSeen) {
      if (now.getTime() - lastSeen > this.#idleMs) {
        this.#lastSeen.delete(hash);
      }
    }
  }
}
