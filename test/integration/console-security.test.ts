import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { CONSOLE_CSP } from '../../src/console/headers.js';
import { DEFAULT_CONSOLE_IDLE_SECONDS } from '../../src/console/session.js';
import { readTlsFiles } from '../../src/server/tls.js';
import type { Store } from '../../src/store/repositories.js';
import {
  consoleLogin,
  consoleLoginAs,
  cookiesOf,
  csrfFieldOf,
  formBody,
} from '../support/console-client.js';
import { describeEachDialect } from '../support/databases.js';
import { startVaultServer, type VaultServer } from '../support/vault-server.js';

const execFileAsync = promisify(execFile);

const START = new Date('2031-03-02T09:00:00.000Z');
const SECRET = 'console-secret-Qz81-never-logged';

/** The suite logs in more often than the default limit of 10 a minute allows. */
const MANY_LOGINS = { max: 1000, windowSeconds: 60 };
const LIMITED_LOGINS = { max: 20, windowSeconds: 60 };

describeEachDialect('console security', (context) => {
  let store: Store;
  let server: VaultServer;
  let targetId: string;
  let accountId: string;

  beforeAll(async () => {
    store = await context.openStore();
    server = await startVaultServer(store, START, { loginRateLimit: MANY_LOGINS });
    const target = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'ledger-db', address: '10.0.0.7' },
    });
    targetId = target.json<{ id: string }>().id;
    const account = await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${targetId}/accounts`,
      payload: { username: 'postgres', secret: SECRET },
    });
    accountId = account.json<{ id: string }>().id;
    await server.allowReveal(targetId, accountId);
  });

  afterAll(async () => {
    await server.close();
  });

  async function requestCount(): Promise<number> {
    return (await store.access.listRequests({})).length;
  }

  it('redirects a request without session to the login', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/console' });

    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/console/login');
    expect(response.headers['content-security-policy']).toBe(CONSOLE_CSP);
  });

  it('redirects the root path to the console', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/' });

    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/console');
  });

  it('sends the strict CSP on pages, assets and errors', async () => {
    for (const url of ['/console/login', '/console/assets/console.css', '/console/missing']) {
      const response = await server.app.inject({ method: 'GET', url });

      expect(response.headers['content-security-policy'], url).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(response.headers['x-frame-options'], url).toBe('DENY');
    }
  });

  it('renders pages without inline script or style', async () => {
    const session = await consoleLogin(server, 'operator');
    for (const url of ['/console/login', '/console', `/console/targets/${targetId}`]) {
      const html = (await session.get(url)).body;

      expect(html, url).not.toMatch(/<script(?![^>]*\ssrc=)/);
      expect(html, url).not.toMatch(/\sstyle=/);
      expect(html, url).not.toMatch(/<style/);
      expect(html, url).not.toMatch(/\son[a-z]+=/);
    }
  });

  it('sets HttpOnly SameSite=Strict session cookie over HTTP', async () => {
    const page = await server.app.inject({ method: 'GET', url: '/console/login' });
    const loginCookie = page.cookies.find((cookie) => cookie.name === 'strongroom-login');
    const session = await consoleLogin(server, 'operator');
    const dashboard = await session.get('/console');

    expect(loginCookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(loginCookie?.secure).not.toBe(true);
    expect(session.cookie.startsWith('strongroom-session=')).toBe(true);
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.body).toContain('operator1');
  });

  it('logs in as the API does and audits it', async () => {
    const session = await consoleLogin(server, 'approver');
    const logins = await store.audit.listEvents({ limit: 1000, action: 'auth.login' });

    const me = await server.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${session.token}` },
    });
    expect(me.json()).toMatchObject({ username: 'approver1', sessionScope: 'full' });
    expect(logins.at(-1)).toMatchObject({ actor: 'approver1', outcome: 'success' });
  });

  it('shows a wrong TOTP code next to the form', async () => {
    const page = await server.app.inject({ method: 'GET', url: '/console/login' });
    const loginCookie = cookiesOf(page).get('strongroom-login')!;
    const response = await server.app.inject({
      method: 'POST',
      url: '/console/login',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `strongroom-login=${loginCookie}`,
      },
      payload: formBody({
        _csrf: csrfFieldOf(page.body),
        username: 'operator1',
        password: 'operator passphrase for the tests',
        totpCode: '000000',
      }),
    });

    expect(response.statusCode).toBe(401);
    expect(response.body).toContain('SR_AUTH_FAILED');
    expect(response.cookies.find((cookie) => cookie.name === 'strongroom-session')).toBeUndefined();
  });

  it('rejects a login without its form token', async () => {
    const credentials = server.nextLogin('operator');
    const response = await server.app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ _csrf: 'forged', ...credentials }),
    });

    expect(response.statusCode).toBe(403);
    expect(response.body).toContain('SR_CONSOLE_CSRF_INVALID');
    expect(response.cookies.find((cookie) => cookie.name === 'strongroom-session')).toBeUndefined();
  });

  it('rejects a form without or with a wrong CSRF token', async () => {
    const session = await consoleLogin(server, 'operator');
    const before = await requestCount();
    const fields = { reason: 'quarterly patching', durationMinutes: '60' };

    for (const csrf of [
      undefined,
      'wrong-token',
      csrfFieldOf((await session.get('/console')).body) + 'x',
    ]) {
      const response = await server.app.inject({
        method: 'POST',
        url: `/console/accounts/${accountId}/request`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie },
        payload: formBody(csrf === undefined ? fields : { ...fields, _csrf: csrf }),
      });

      expect(response.statusCode).toBe(403);
      expect(response.body).toContain('SR_CONSOLE_CSRF_INVALID');
    }
    expect(await requestCount()).toBe(before);
  });

  it('rejects a session token of another user as CSRF token', async () => {
    const operator = await consoleLogin(server, 'operator');
    const approver = await consoleLogin(server, 'approver');
    const approverToken = csrfFieldOf((await approver.get('/console')).body);

    const response = await operator.post(`/console/accounts/${accountId}/request`, {
      _csrf: approverToken,
      reason: 'quarterly patching',
      durationMinutes: '60',
    });

    expect(response.statusCode).toBe(403);
    expect(response.body).toContain('SR_CONSOLE_CSRF_INVALID');
  });

  it('sends the revealed secret with no-store', async () => {
    const session = await consoleLogin(server, 'operator');
    const response = await session.post(`/console/accounts/${accountId}/reveal`, {
      reason: 'restore the nightly backup',
    });
    const reveals = await store.audit.listEvents({ limit: 1000, action: 'secret.reveal' });

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(SECRET);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['pragma']).toBe('no-cache');
    expect(response.body).toContain('data-hide-after="30"');
    expect(reveals.at(-1)).toMatchObject({
      actor: 'operator1',
      objectId: accountId,
      outcome: 'success',
      reason: 'restore the nightly backup',
    });
    expect(server.logs.join('\n')).not.toContain(SECRET);
  });

  it('shows a refused reveal next to the form and audits it', async () => {
    const session = await consoleLogin(server, 'approver');
    const approverReveal = await session.post(`/console/accounts/${accountId}/reveal`, {
      reason: 'curious',
    });
    const operator = await consoleLogin(server, 'operator');
    const shortReason = await operator.post(`/console/accounts/${accountId}/reveal`, {
      reason: '',
    });
    // The refused attempt is recorded by an onResponse hook, after the response has been sent.
    const failedActors = async () =>
      (await store.audit.listEvents({ limit: 1000, action: 'secret.reveal' }))
        .filter((event) => event.outcome === 'failure')
        .map((event) => event.actor);

    expect(approverReveal.statusCode).toBe(403);
    expect(approverReveal.body).toContain('SR_FORBIDDEN');
    expect(shortReason.statusCode).toBe(400);
    expect(shortReason.body).toContain('SR_VALIDATION_FAILED');
    expect(shortReason.body).toContain('aria-invalid="true"');
    expect(shortReason.body).toContain('The field “Reason for revealing” is too short');
    expect(shortReason.body).not.toContain('body.reason');
    await expect.poll(failedActors).toEqual(expect.arrayContaining(['approver1', 'operator1']));
  });

  it('ends an idle session and its bearer token', async () => {
    const session = await consoleLogin(server, 'operator');
    const loggedInAt = server.clock.now;
    server.clock.now = new Date(loggedInAt.getTime() + (DEFAULT_CONSOLE_IDLE_SECONDS + 1) * 1000);
    try {
      const response = await session.get('/console');
      const bearer = await server.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { authorization: `Bearer ${session.token}` },
      });

      expect(response.statusCode).toBe(401);
      expect(response.body).toContain('SR_CONSOLE_SESSION_IDLE');
      expect(response.body).toContain('Log in again');
      expect(cookiesOf(response).get('strongroom-session')).toBe('');
      expect(bearer.statusCode).toBe(401);
    } finally {
      server.clock.now = loggedInAt;
    }
  });

  it('keeps an active session alive', async () => {
    const session = await consoleLogin(server, 'operator');
    const loggedInAt = server.clock.now;
    const step = (DEFAULT_CONSOLE_IDLE_SECONDS - 60) * 1000;
    try {
      server.clock.now = new Date(loggedInAt.getTime() + step);
      const first = await session.get('/console');
      server.clock.now = new Date(loggedInAt.getTime() + 2 * step);
      const second = await session.get('/console');

      expect(first.statusCode).toBe(200);
      expect(second.statusCode).toBe(200);
    } finally {
      server.clock.now = loggedInAt;
    }
  });

  it('ends the session of a disabled user', async () => {
    const created = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/users',
      payload: { username: 'audra', password: 'audra passphrase 1234', role: 'auditor' },
    });
    const userId = created.json<{ id: string }>().id;
    const session = await consoleLoginAs(server, {
      username: 'audra',
      password: 'audra passphrase 1234',
      totpCode: '',
    });
    expect((await session.get('/console/audit')).statusCode).toBe(200);

    await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/users/${userId}/disable`,
    });
    const response = await session.get('/console/audit');

    expect(response.statusCode).toBe(401);
    expect(response.body).toContain('SR_AUTH_REQUIRED');
    expect(response.body).toContain('Session ended');
  });

  it('states the request period in minutes', async () => {
    const extra = await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${targetId}/accounts`,
      payload: { username: 'reporting', secret: 'reporting-secret-Lm42' },
    });
    const extraId = extra.json<{ id: string }>().id;
    const operator = await consoleLogin(server, 'operator');
    const page = await operator.get(`/console/targets/${targetId}`);
    const before = await requestCount();

    const tooLong = await operator.post(`/console/accounts/${extraId}/request`, {
      reason: 'quarterly patching',
      durationMinutes: '600',
    });
    const notANumber = await operator.post(`/console/accounts/${extraId}/request`, {
      reason: 'quarterly patching',
      durationMinutes: 'abc',
    });

    // The default policy allows 8 hours.
    expect(page.body).toContain('At most 480 minutes for this target.');
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.body).toContain(
      'The field “Access period” is 600, but it must be a whole number from 1 to 480 minutes.',
    );
    expect(tooLong.body).toContain(
      `aria-describedby="request-minutes-hint-${extraId} request-minutes-error-${extraId}"`,
    );
    expect(notANumber.body).toContain(
      'The field “Access period” is abc, but it must be a whole number from 1 to 480 minutes.',
    );
    expect(await requestCount()).toBe(before);
  });

  it('says the session ended after a form post', async () => {
    const response = await server.app.inject({
      method: 'POST',
      url: `/console/accounts/${accountId}/reveal`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: formBody({ reason: 'quarterly patching' }),
    });
    const login = await server.app.inject({
      method: 'GET',
      url: String(response.headers.location),
    });

    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/console/login?notice=session-ended');
    expect(login.statusCode).toBe(200);
    expect(login.body).toContain(
      'Your session ended, so the form was not submitted. Log in again.',
    );
  });

  it('ends the session on logout', async () => {
    const session = await consoleLogin(server, 'approver');
    const logout = await session.post('/console/logout');
    const after = await session.get('/console');

    expect(logout.statusCode).toBe(200);
    expect(logout.body).toContain('You logged out');
    expect(after.statusCode).toBe(401);
  });

  it('checks the role on every console route', async () => {
    const session = await consoleLogin(server, 'operator');

    for (const url of [
      '/console/users',
      '/console/api-tokens',
      '/console/keys',
      '/console/audit',
    ]) {
      const response = await session.get(url);

      expect(response.statusCode, url).toBe(403);
      expect(response.body, url).toContain('SR_FORBIDDEN');
    }
  });
});

describeEachDialect('console rate limit', (context) => {
  let server: VaultServer;

  beforeAll(async () => {
    const store = await context.openStore();
    // The API logins of the test users count on their own route, so they stay below this limit.
    server = await startVaultServer(store, START, { loginRateLimit: LIMITED_LOGINS });
  });

  afterAll(async () => {
    await server.close();
  });

  it('links the limited login to the login page', async () => {
    const post = () =>
      server.app.inject({
        method: 'POST',
        url: '/console/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: formBody({ username: 'nobody', password: 'wrong' }),
      });
    for (let attempt = 0; attempt < LIMITED_LOGINS.max; attempt += 1) {
      expect((await post()).statusCode).not.toBe(429);
    }
    const limited = await post();

    expect(limited.statusCode).toBe(429);
    expect(limited.body).toContain('href="/console/login"');
    expect(limited.body).not.toContain('Back to the dashboard');
  });
});

describeEachDialect('console over HTTPS', (context) => {
  let folder: string;
  let server: VaultServer;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'strongroom-console-tls-'));
    const certFile = path.join(folder, 'cert.pem');
    const keyFile = path.join(folder, 'key.pem');
    await execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ]);
    const tls = await readTlsFiles({ certFile, keyFile });
    server = await startVaultServer(await context.openStore(), START, { tls });
  });

  afterAll(async () => {
    await server?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('sets Secure __Host- cookies', async () => {
    const page = await server.app.inject({ method: 'GET', url: '/console/login' });
    const loginCookie = page.cookies.find((cookie) => cookie.name === '__Host-strongroom-login');
    const session = await consoleLogin(server, 'operator');
    const logout = await session.post('/console/logout');
    const cleared = logout.cookies.find((cookie) => cookie.name === '__Host-strongroom-session');

    expect(loginCookie).toMatchObject({
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
    });
    expect(session.cookie.startsWith('__Host-strongroom-session=')).toBe(true);
    expect((await session.get('/console')).statusCode).toBe(401);
    expect(cleared).toMatchObject({ value: '', secure: true, httpOnly: true, path: '/' });
  });
});
