import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

import type { Role } from '../../src/auth/users.js';
import type { VaultServer } from './vault-server.js';

/** A browser-like console session over Fastify's inject: the cookie and the form token. */
export interface ConsoleSession {
  cookie: string;
  /** Where the login redirected: /console, or /console/enrol for a user without TOTP. */
  landing: string;
  /** The session token, which is also the bearer token of the REST API. */
  token: string;
  get(url: string): Promise<LightMyRequestResponse>;
  /** Posts a form with the session's anti-forgery token unless `fields` sets `_csrf` itself. */
  post(url: string, fields?: Record<string, string | string[]>): Promise<LightMyRequestResponse>;
}

/** Returns the value of the first `_csrf` hidden field of a page. */
export function csrfFieldOf(html: string): string {
  const match = /name="_csrf" value="([^"]*)"/.exec(html);
  expect(match, 'page has a _csrf field').not.toBeNull();
  return match![1]!;
}

/** Returns the cookie pairs (`name=value`) that a response sets, by name. */
export function cookiesOf(response: LightMyRequestResponse): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const cookie of response.cookies as Array<{ name: string; value: string }>) {
    cookies.set(cookie.name, cookie.value);
  }
  return cookies;
}

/** Encodes form fields as application/x-www-form-urlencoded, repeating a name for a list. */
export function formBody(fields: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      params.append(name, item);
    }
  }
  return params.toString();
}

/** Logs in to the console as the user of `role` with the login form, as a browser would. */
export async function consoleLogin(server: VaultServer, role: Role): Promise<ConsoleSession> {
  return consoleLoginAs(server, server.nextLogin(role));
}

/** Logs in to the console with the given credentials. */
export async function consoleLoginAs(
  server: VaultServer,
  credentials: { username: string; password: string; totpCode: string },
): Promise<ConsoleSession> {
  const page = await server.app.inject({ method: 'GET', url: '/console/login' });
  const loginCookie = [...cookiesOf(page)].find(([name]) => name.endsWith('strongroom-login'))!;
  const response = await server.app.inject({
    method: 'POST',
    url: '/console/login',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `${loginCookie[0]}=${loginCookie[1]}`,
    },
    payload: formBody({ _csrf: csrfFieldOf(page.body), ...credentials }),
  });
  expect(response.statusCode, response.body).toBe(303);

  const session = [...cookiesOf(response)].find(([name]) => name.endsWith('strongroom-session'))!;
  const cookie = `${session[0]}=${session[1]}`;
  const get = (url: string) => server.app.inject({ method: 'GET', url, headers: { cookie } });
  // The page after the login: the dashboard, or the enrolment page of a user without TOTP.
  const landing = String(response.headers.location);
  let csrf: string | undefined;

  return {
    cookie,
    landing,
    token: session[1],
    get,
    post: async (url, fields = {}) => {
      csrf ??= csrfFieldOf((await get(landing)).body);
      return server.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        payload: formBody({ _csrf: csrf, ...fields }),
      });
    },
  };
}
