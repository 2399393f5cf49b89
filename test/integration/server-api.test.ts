import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino, { type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/log.js';
import type { AuditLog } from '../../src/audit/types.js';
import { createUser, ROLES, type Role } from '../../src/auth/users.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import { buildServer } from '../../src/server/server.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import type { HealthService, VaultService } from '../../src/vault/types.js';
import { describeEachDialect } from '../support/databases.js';
import {
  configureTargetAccess,
  enrolAndLogin,
  grantAccess,
  injectClient,
  type GrantParties,
} from '../support/people.js';

const START = new Date('2030-06-01T08:00:00.000Z');
const SESSION_TTL_SECONDS = 3600;
const SECRET = 'S3cret-root-password-for-db01!';

const passwordOf = (role: Role) => `${role} passphrase for the tests`;

/** Creates a pino logger that keeps its lines in memory, so tests can search them. */
function createLogCapture(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  return { lines, logger: pino({ level: 'trace' }, stream) };
}

interface Harness {
  app: FastifyInstance;
  store: Store;
  keyring: Keyring;
  vault: VaultService;
  health: HealthService;
  audit: AuditLog;
  logger: Logger;
  logs: string[];
  clock: { now: Date };
  tokens: Record<Role, string>;
  userIds: Record<Role, string>;
  /** Every token issued in the suite, to search the logs for. */
  issuedTokens: string[];
  close(): Promise<void>;
}

/** Builds the service on a real store, a file master key and the real vault, with one user per role. */
async function startHarness(store: Store): Promise<Harness> {
  const { lines, logger } = createLogCapture();
  const clock = { now: START };
  const now = () => clock.now;

  const keyDir = await mkdtemp(path.join(tmpdir(), 'strongroom-server-test-'));
  const keyPath = path.join(keyDir, 'master.key');
  await createKeyFile(keyPath);
  const provider = createFileProvider({ path: keyPath });
  await provider.open();
  const keyring = new Keyring({
    active: provider,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(100, 60_000),
    logger,
  });
  await keyring.verifyCanaries();

  const audit = createAuditLog(store, logger, { now });
  const vault = createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring,
    audit,
    logger,
    now,
  });
  const health = createHealthService(keyring, store, logger);
  const app = await buildServer({
    store,
    vault,
    health,
    audit,
    keyring,
    logger,
    sessionTtlSeconds: SESSION_TTL_SECONDS,
    // The login tests here send a few wrong passwords; the lockout has its own suite.
    lockout: { maxFailures: 100, windowSeconds: 900, lockSeconds: 900 },
    loginRateLimit: { max: 1000, windowSeconds: 60 },
    sweepIntervalSeconds: 0,
    now,
  });

  const userIds = {} as Record<Role, string>;
  for (const role of ROLES) {
    const user = await createUser(store, {
      username: `${role}1`,
      password: passwordOf(role),
      role,
    });
    userIds[role] = user.id;
  }

  // Administrators, operators and approvers enrol TOTP at their first login; auditors need not.
  const issuedTokens: string[] = [];
  const tokens = {} as Record<Role, string>;
  const call = injectClient(app);
  for (const role of ROLES) {
    if (role === 'auditor') {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: `${role}1`, password: passwordOf(role) },
      });
      tokens[role] = response.json<{ token: string }>().token;
    } else {
      tokens[role] = (await enrolAndLogin(call, `${role}1`, passwordOf(role), START)).token;
    }
    issuedTokens.push(tokens[role]);
  }

  return {
    app,
    store,
    keyring,
    vault,
    health,
    audit,
    logger,
    logs: lines,
    clock,
    tokens,
    userIds,
    issuedTokens,
    close: async () => {
      await app.close();
      await keyring.close();
      await rm(keyDir, { recursive: true, force: true });
    },
  };
}

function errorOf(response: LightMyRequestResponse): { code: string; message: string } {
  return response.json<{ error: { code: string; message: string } }>().error;
}

describeEachDialect('REST API', (database) => {
  let h: Harness;
  let targetId: string;
  let accountId: string;

  const as = (role: Role, options: InjectOptions): Promise<LightMyRequestResponse> =>
    h.app.inject({
      ...options,
      headers: { ...options.headers, authorization: `Bearer ${h.tokens[role]}` },
    });

  beforeAll(async () => {
    h = await startHarness(await database.openStore());

    const target = await as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'db01', address: 'db01.example.internal', description: 'Primary database' },
    });
    targetId = target.json<{ id: string }>().id;

    const account = await as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${targetId}/accounts`,
      payload: { username: 'root', secret: SECRET },
    });
    accountId = account.json<{ id: string }>().id;

    await configureTargetAccess(injectClient(h.app), parties(), targetId);
    await grantAccess(injectClient(h.app), parties(), accountId);
  });

  afterAll(async () => {
    await h?.close();
  });

  const parties = (): GrantParties => ({
    admin: h.tokens.administrator,
    operator: h.tokens.operator,
    operatorId: h.userIds.operator,
    approver: h.tokens.approver,
    approverId: h.userIds.approver,
  });

  describe('login', () => {
    it('returns a token and its expiry', async () => {
      const response = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'auditor1', password: passwordOf('auditor') },
      });

      expect(response.statusCode).toBe(200);
      const body = response.json<{ token: string; expiresAt: string }>();
      h.issuedTokens.push(body.token);
      expect(Object.keys(body).sort()).toEqual(['expiresAt', 'scope', 'token']);
      expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(body.expiresAt).toBe('2030-06-01T09:00:00.000Z');
      expect(response.headers['cache-control']).toBe('no-store');
    });

    it('audits success without the password', async () => {
      await h.app
        .inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'auditor1', password: passwordOf('auditor') },
        })
        .then((response) => h.issuedTokens.push(response.json<{ token: string }>().token));

      const events = await h.store.audit.listEvents({ action: 'auth.login', limit: 1000 });
      const event = events.at(-1)!;
      expect(event.actor).toBe('auditor1');
      expect(event.outcome).toBe('success');
      expect(event.objectType).toBe('user');
      expect(event.clientAddress).toBe('127.0.0.1');
      expect(event.occurredAt).toBe(START.toISOString());
      expect(JSON.stringify(event)).not.toContain(passwordOf('auditor'));
    });

    it('rejects a wrong password with SR_AUTH_FAILED', async () => {
      const response = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'operator1', password: 'not the operator password' },
      });

      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({
        error: {
          code: 'SR_AUTH_FAILED',
          message: 'The user name, password or TOTP code is wrong. Check them and log in again.',
        },
      });
    });

    it('audits failure without the password', async () => {
      await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'operator1', password: 'another wrong password' },
      });

      const events = await h.store.audit.listEvents({ action: 'auth.login', limit: 1000 });
      const event = events.at(-1)!;
      expect(event.actor).toBe('operator1');
      expect(event.outcome).toBe('failure');
      expect(event.details).toEqual({ failure: 'wrong password' });
      expect(event.clientAddress).toBe('127.0.0.1');
      expect(JSON.stringify(event)).not.toContain('another wrong password');
    });

    it('answers an unknown user like a wrong password', async () => {
      const unknown = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'nobody', password: 'whatever password' },
      });
      const wrong = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'operator1', password: 'whatever password' },
      });

      expect(unknown.statusCode).toBe(wrong.statusCode);
      expect(unknown.body).toBe(wrong.body);
      const events = await h.store.audit.listEvents({ action: 'auth.login', limit: 1000 });
      expect(events.at(-2)).toMatchObject({
        actor: 'nobody',
        outcome: 'failure',
        objectId: '',
        details: { failure: 'unknown user' },
      });
    });

    it('audits a malformed user name', async () => {
      const response = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: "x' OR '1'='1", password: 'whatever password' },
      });

      expect(response.statusCode).toBe(401);
      const events = await h.store.audit.listEvents({ action: 'auth.login', limit: 1000 });
      expect(events.at(-1)).toMatchObject({ actor: "x' OR '1'='1", outcome: 'failure' });
    });
  });

  describe('sessions', () => {
    it('expires a token after the session lifetime', async () => {
      const login = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'auditor1', password: passwordOf('auditor') },
      });
      const { token } = login.json<{ token: string }>();
      h.issuedTokens.push(token);
      const me = () =>
        h.app.inject({
          method: 'GET',
          url: '/api/v1/me',
          headers: { authorization: `Bearer ${token}` },
        });

      h.clock.now = new Date(START.getTime() + (SESSION_TTL_SECONDS - 1) * 1000);
      const before = await me();
      h.clock.now = new Date(START.getTime() + SESSION_TTL_SECONDS * 1000);
      const after = await me();
      h.clock.now = START;

      expect(before.statusCode).toBe(200);
      expect(after.statusCode).toBe(401);
      expect(errorOf(after).code).toBe('SR_AUTH_REQUIRED');
      expect(errorOf(after).message).toContain('expired at 2030-06-01T09:00:00.000Z');
      expect(after.headers['www-authenticate']).toBe('Bearer realm="strongroom"');
    });

    it('shows the user on /me', async () => {
      const response = await as('auditor', { method: 'GET', url: '/api/v1/me' });

      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        username: 'auditor1',
        role: 'auditor',
        sessionExpiresAt: '2030-06-01T09:00:00.000Z',
      });
    });

    it('ends the session on logout', async () => {
      const login = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'auditor1', password: passwordOf('auditor') },
      });
      const { token } = login.json<{ token: string }>();
      h.issuedTokens.push(token);
      const headers = { authorization: `Bearer ${token}` };

      const logout = await h.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers });
      const me = await h.app.inject({ method: 'GET', url: '/api/v1/me', headers });

      expect(logout.statusCode).toBe(204);
      expect(me.statusCode).toBe(401);
      const events = await h.store.audit.listEvents({ action: 'auth.logout', limit: 10 });
      expect(events.at(-1)).toMatchObject({ actor: 'auditor1', outcome: 'success' });
    });
  });

  describe('bearer token', () => {
    /** Lists every operation in the OpenAPI document, with UUIDs in place of path parameters. */
    async function listOperations(): Promise<Array<{ method: 'GET' | 'POST'; url: string }>> {
      const document = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        paths: Record<string, Record<string, unknown>>;
      }>();
      return Object.entries(document.paths).flatMap(([route, operations]) =>
        Object.keys(operations).map((method) => ({
          method: method.toUpperCase() as 'GET' | 'POST',
          url: route.replaceAll(/\{[^}]+\}/g, randomUUID()),
        })),
      );
    }

    const badHeaders: Array<{ name: string; headers: Record<string, string> }> = [
      { name: 'no header', headers: {} },
      { name: 'Basic scheme', headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } },
      { name: 'empty bearer', headers: { authorization: 'Bearer ' } },
      { name: 'unknown token', headers: { authorization: `Bearer ${'A'.repeat(43)}` } },
    ];

    for (const { name, headers } of badHeaders) {
      it(`is required on every /api route: ${name}`, async () => {
        const operations = (await listOperations()).filter(
          ({ url }) => url.startsWith('/api/') && url !== '/api/v1/auth/login',
        );
        expect(operations.length).toBeGreaterThanOrEqual(10);

        for (const operation of operations) {
          const request: InjectOptions = {
            ...operation,
            headers,
            ...(operation.method === 'POST' ? { payload: {} } : {}),
          };
          const response = await h.app.inject(request);

          // Application routes take API tokens, and name their own code for a missing or bad one.
          const expectedCode = operation.url.startsWith('/api/v1/app/')
            ? 'SR_API_TOKEN_REJECTED'
            : 'SR_AUTH_REQUIRED';
          expect(response.statusCode, `${operation.method} ${operation.url}`).toBe(401);
          expect(errorOf(response).code, `${operation.method} ${operation.url}`).toBe(expectedCode);
        }
      });
    }

    it('is not required for login, health and the API document', async () => {
      const health = await h.app.inject({ method: 'GET', url: '/health' });
      const openapi = await h.app.inject({ method: 'GET', url: '/openapi.json' });

      expect(health.statusCode).toBe(200);
      expect(openapi.statusCode).toBe(200);
    });
  });

  describe('roles', () => {
    const everyone: Role[] = ['administrator', 'auditor', 'operator', 'approver'];
    const routes: Array<{
      name: string;
      allowed: Role[];
      request: () => InjectOptions;
      /** The code of a refusal that the role passes but the access workflow gives. */
      workflowRefusal?: Partial<Record<Role, string>>;
    }> = [
      {
        name: 'POST /targets',
        allowed: ['administrator'],
        request: () => ({
          method: 'POST',
          url: '/api/v1/targets',
          payload: { name: `t-${randomUUID()}`, address: '10.0.0.5' },
        }),
      },
      {
        name: 'GET /targets',
        allowed: everyone,
        request: () => ({ method: 'GET', url: '/api/v1/targets' }),
      },
      {
        name: 'GET /targets/:id',
        allowed: everyone,
        request: () => ({ method: 'GET', url: `/api/v1/targets/${targetId}` }),
      },
      {
        name: 'POST /targets/:id/accounts',
        allowed: ['administrator'],
        request: () => ({
          method: 'POST',
          url: `/api/v1/targets/${targetId}/accounts`,
          payload: { username: `svc-${randomUUID()}`, secret: 'another secret value' },
        }),
      },
      {
        name: 'GET /targets/:id/accounts',
        allowed: everyone,
        request: () => ({ method: 'GET', url: `/api/v1/targets/${targetId}/accounts` }),
      },
      {
        name: 'GET /accounts/:id',
        allowed: everyone,
        request: () => ({ method: 'GET', url: `/api/v1/accounts/${accountId}` }),
      },
      {
        name: 'POST /accounts/:id/reveal',
        allowed: ['operator'],
        workflowRefusal: { administrator: 'SR_ACCESS_NOT_GRANTED' },
        request: () => ({
          method: 'POST',
          url: `/api/v1/accounts/${accountId}/reveal`,
          payload: { reason: 'role check' },
        }),
      },
      {
        name: 'GET /audit/events',
        allowed: ['administrator', 'auditor'],
        request: () => ({ method: 'GET', url: '/api/v1/audit/events' }),
      },
      { name: 'GET /me', allowed: everyone, request: () => ({ method: 'GET', url: '/api/v1/me' }) },
    ];

    for (const route of routes) {
      for (const role of everyone) {
        const allowed = route.allowed.includes(role);

        it(`${route.name} ${allowed ? 'allows' : 'forbids'} ${role}`, async () => {
          const response = await as(role, route.request());

          const refusal = route.workflowRefusal?.[role];
          if (allowed) {
            expect(response.statusCode).toBeLessThan(300);
          } else if (refusal !== undefined) {
            expect(response.statusCode).toBe(403);
            expect(errorOf(response).code).toBe(refusal);
          } else {
            expect(response.statusCode).toBe(403);
            expect(errorOf(response).code).toBe('SR_FORBIDDEN');
            expect(errorOf(response).message).toContain(`The role ${role} does not allow`);
          }
        });
      }
    }

    it('rejects a forbidden request before validating its body', async () => {
      const response = await as('operator', {
        method: 'POST',
        url: '/api/v1/targets',
        payload: { nonsense: true },
      });

      expect(response.statusCode).toBe(403);
    });
  });

  describe('targets and accounts', () => {
    it('creates and shows a target', async () => {
      const created = await as('administrator', {
        method: 'POST',
        url: '/api/v1/targets',
        payload: { name: 'web01', address: '192.0.2.10' },
      });
      const shown = await as('approver', {
        method: 'GET',
        url: `/api/v1/targets/${created.json<{ id: string }>().id}`,
      });

      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({
        name: 'web01',
        address: '192.0.2.10',
        description: '',
        createdAt: START.toISOString(),
      });
      expect(shown.json()).toEqual(created.json());
    });

    it('lists accounts without secrets', async () => {
      const listed = await as('operator', {
        method: 'GET',
        url: `/api/v1/targets/${targetId}/accounts`,
      });
      const shown = await as('operator', { method: 'GET', url: `/api/v1/accounts/${accountId}` });

      expect(listed.statusCode).toBe(200);
      expect(
        listed.json<{ accounts: Array<{ id: string }> }>().accounts.map((account) => account.id),
      ).toContain(accountId);
      expect(listed.body).not.toContain(SECRET);
      expect(shown.json()).toMatchObject({
        id: accountId,
        targetId,
        username: 'root',
        secretVersion: 1,
      });
      expect(shown.body).not.toContain(SECRET);
    });

    it('accepts the largest secret fully escaped', async () => {
      // Every character is sent as a six-byte \uXXXX escape, the worst case for the body limit.
      const secret = '\u0001'.repeat(16_384);

      const created = await as('administrator', {
        method: 'POST',
        url: `/api/v1/targets/${targetId}/accounts`,
        payload: { username: 'escaped', secret },
      });
      await grantAccess(injectClient(h.app), parties(), created.json<{ id: string }>().id);
      const revealed = await as('operator', {
        method: 'POST',
        url: `/api/v1/accounts/${created.json<{ id: string }>().id}/reveal`,
        payload: { reason: 'size check' },
      });

      expect(created.statusCode).toBe(201);
      expect(revealed.json<{ secret: string }>().secret).toBe(secret);
    });

    it('rejects a secret over 16384 characters', async () => {
      const response = await as('administrator', {
        method: 'POST',
        url: `/api/v1/targets/${targetId}/accounts`,
        payload: { username: 'toolong', secret: 's'.repeat(16_385) },
      });

      expect(response.statusCode).toBe(400);
      expect(errorOf(response).message).toBe(
        'The field body.secret is too long: it must have at most 16384 characters.',
      );
    });

    it('rejects a duplicate target name with SR_CONFLICT', async () => {
      const response = await as('administrator', {
        method: 'POST',
        url: '/api/v1/targets',
        payload: { name: 'db01', address: 'elsewhere' },
      });

      expect(response.statusCode).toBe(409);
      expect(errorOf(response).code).toBe('SR_CONFLICT');
    });

    it('answers an unknown target with SR_NOT_FOUND', async () => {
      const response = await as('operator', {
        method: 'GET',
        url: `/api/v1/targets/${randomUUID()}`,
      });

      expect(response.statusCode).toBe(404);
      expect(errorOf(response).code).toBe('SR_NOT_FOUND');
    });
  });

  describe('reveal', () => {
    const reveal = (payload: unknown) =>
      as('operator', {
        method: 'POST',
        url: `/api/v1/accounts/${accountId}/reveal`,
        payload: payload as object,
      });

    it('returns the secret with no-store', async () => {
      const response = await reveal({ reason: 'incident 4711: restore the backup' });

      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ secret: SECRET, secretVersion: 1 });
      expect(response.headers['cache-control']).toBe('no-store');
    });

    it('audits the reveal with the reason', async () => {
      await reveal({ reason: 'maintenance window 12' });

      const events = await h.store.audit.listEvents({ action: 'secret.reveal', limit: 1000 });
      const event = events.at(-1)!;
      expect(event).toMatchObject({
        actor: 'operator1',
        objectType: 'account',
        objectId: accountId,
        outcome: 'success',
        reason: 'maintenance window 12',
        clientAddress: '127.0.0.1',
      });
      expect(JSON.stringify(event)).not.toContain(SECRET);
    });

    const badReasons = [
      { name: 'missing', payload: {}, words: 'is missing' },
      { name: '2 characters', payload: { reason: 'ab' }, words: 'at least 3 characters' },
      {
        name: '501 characters',
        payload: { reason: 'r'.repeat(501) },
        words: 'at most 500 characters',
      },
      {
        name: 'blank',
        payload: { reason: '     ' },
        words: 'at least 3 characters besides leading and trailing blanks',
      },
    ];

    for (const { name, payload, words } of badReasons) {
      it(`requires a reason: ${name}`, async () => {
        const before = await h.store.audit.listEvents({ action: 'secret.reveal', limit: 1000 });

        const response = await reveal(payload);

        expect(response.statusCode).toBe(400);
        expect(errorOf(response).code).toBe('SR_VALIDATION_FAILED');
        expect(errorOf(response).message).toContain('body.reason');
        expect(errorOf(response).message).toContain(words);
        expect(response.body).not.toContain(SECRET);
        const refused = await nextRevealEvent(before.length);
        expect(refused).toMatchObject({
          actor: 'operator1',
          objectId: accountId,
          outcome: 'failure',
        });
        expect(refused.details).toEqual({ status: 400 });
      });
    }

    it('audits a forbidden reveal', async () => {
      const before = await h.store.audit.listEvents({ action: 'secret.reveal', limit: 1000 });

      const response = await as('auditor', {
        method: 'POST',
        url: `/api/v1/accounts/${accountId}/reveal`,
        payload: { reason: 'curious auditor' },
      });

      expect(response.statusCode).toBe(403);
      const refused = await nextRevealEvent(before.length);
      // The role check runs before the body is read, so the reason is not known.
      expect(refused).toMatchObject({ objectId: accountId, outcome: 'failure', reason: '' });
      expect(refused.details).toEqual({ status: 403 });
    });

    /** Waits for the reveal event after the first `count`: refusals are audited once the response is sent. */
    async function nextRevealEvent(count: number) {
      for (let attempt = 0; attempt < 50; attempt += 1) {
        const events = await h.store.audit.listEvents({ action: 'secret.reveal', limit: 1000 });
        if (events.length > count) {
          expect(events).toHaveLength(count + 1);
          return events[count]!;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('no audit event for the refused reveal');
    }
  });

  describe('validation', () => {
    const cases: Array<{
      name: string;
      role: Role;
      request: () => InjectOptions;
      field: string;
      words: string;
    }> = [
      {
        name: 'missing target name',
        role: 'administrator',
        request: () => ({ method: 'POST', url: '/api/v1/targets', payload: { address: 'x' } }),
        field: 'body.name',
        words: 'is missing',
      },
      {
        name: 'long target name',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: '/api/v1/targets',
          payload: { name: 'n'.repeat(201), address: 'x' },
        }),
        field: 'body.name',
        words: 'at most 200 characters',
      },
      {
        name: 'control character in address',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: '/api/v1/targets',
          payload: { name: 'ok', address: 'evil\nhost' },
        }),
        field: 'body.address',
        words: 'not allowed',
      },
      {
        name: 'unknown body field',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: '/api/v1/targets',
          payload: { name: 'ok', address: 'x', colour: 'red' },
        }),
        field: 'body.colour',
        words: 'is not a known field',
      },
      {
        name: 'secret sent as a number',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: `/api/v1/targets/${targetId}/accounts`,
          payload: { username: 'typed', secret: 12345 },
        }),
        field: 'body.secret',
        words: 'must be of type string, but the request sent a number',
      },
      {
        name: 'secret sent as an array',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: `/api/v1/targets/${targetId}/accounts`,
          payload: { username: 'typed', secret: ['a'] },
        }),
        field: 'body.secret',
        words: 'but the request sent an array',
      },
      {
        name: 'target name sent as a boolean',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: '/api/v1/targets',
          payload: { name: true, address: 'x' },
        }),
        field: 'body.name',
        words: 'but the request sent a boolean',
      },
      {
        name: 'target id not a UUID',
        role: 'operator',
        request: () => ({ method: 'GET', url: '/api/v1/targets/1%20OR%201=1' }),
        field: 'params.targetId',
        words: 'must be a uuid',
      },
      {
        name: 'account id not a UUID',
        role: 'operator',
        request: () => ({
          method: 'POST',
          url: '/api/v1/accounts/42/reveal',
          payload: { reason: 'a valid reason' },
        }),
        field: 'params.accountId',
        words: 'must be a uuid',
      },
      {
        name: 'missing secret',
        role: 'administrator',
        request: () => ({
          method: 'POST',
          url: `/api/v1/targets/${targetId}/accounts`,
          payload: { username: 'svc' },
        }),
        field: 'body.secret',
        words: 'is missing',
      },
      {
        name: 'audit limit of 0',
        role: 'auditor',
        request: () => ({ method: 'GET', url: '/api/v1/audit/events?limit=0' }),
        field: 'querystring.limit',
        words: 'must be at least 1',
      },
      {
        name: 'audit limit not a number',
        role: 'auditor',
        request: () => ({ method: 'GET', url: '/api/v1/audit/events?limit=ten' }),
        field: 'querystring.limit',
        words: 'must be integer',
      },
      {
        name: 'audit action with a quote',
        role: 'auditor',
        request: () => ({
          method: 'GET',
          url: `/api/v1/audit/events?action=${encodeURIComponent("x' OR '1'='1")}`,
        }),
        field: 'querystring.action',
        words: 'not allowed',
      },
      {
        name: 'login without password',
        role: 'approver',
        request: () => ({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'approver1' },
        }),
        field: 'body.password',
        words: 'is missing',
      },
    ];

    for (const { name, role, request, field, words } of cases) {
      it(`names the field: ${name}`, async () => {
        const response = await as(role, request());

        expect(response.statusCode).toBe(400);
        expect(errorOf(response).code).toBe('SR_VALIDATION_FAILED');
        expect(errorOf(response).message).toContain(`The field ${field} `);
        expect(errorOf(response).message).toContain(words);
      });
    }

    it('rejects a body that is not JSON', async () => {
      const response = await as('administrator', {
        method: 'POST',
        url: '/api/v1/targets',
        headers: { 'content-type': 'application/json' },
        payload: '{"name": "x", "address": ',
      });

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({
        error: {
          code: 'SR_VALIDATION_FAILED',
          message: 'The request body is not valid JSON. Send a JSON object.',
        },
      });
    });

    it('rejects a body over the size limit', async () => {
      const response = await as('administrator', {
        method: 'POST',
        url: `/api/v1/targets/${targetId}/accounts`,
        payload: { username: 'big', secret: 'x'.repeat(130 * 1024) },
      });

      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe('SR_VALIDATION_FAILED');
      expect(errorOf(response).message).toContain('larger than the service accepts');
    });

    it('rejects a body of another media type', async () => {
      const response = await as('administrator', {
        method: 'POST',
        url: '/api/v1/targets',
        headers: { 'content-type': 'application/xml' },
        payload: '<target/>',
      });

      expect(response.statusCode).toBe(400);
      expect(errorOf(response).message).toContain('Content-Type: application/json');
    });
  });

  describe('errors', () => {
    it('answers an unknown route with SR_NOT_FOUND', async () => {
      const response = await h.app.inject({ method: 'GET', url: '/api/v2/nothing?token=abc' });

      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({
        error: {
          code: 'SR_NOT_FOUND',
          message:
            'No route matches GET /api/v2/nothing. The API is described at GET /openapi.json.',
        },
      });
    });

    it('hides an unexpected error behind SR_INTERNAL', async () => {
      const failingVault: VaultService = {
        ...h.vault,
        listTargets: async () => {
          throw new Error('connection reset while reading targets');
        },
      };
      const app = await buildServer({
        ...h,
        vault: failingVault,
        sessionTtlSeconds: SESSION_TTL_SECONDS,
        now: () => h.clock.now,
      });

      const response = await app.inject({
        method: 'GET',
        url: '/api/v1/targets',
        headers: { authorization: `Bearer ${h.tokens.operator}` },
      });
      await app.close();

      expect(response.statusCode).toBe(500);
      const error = errorOf(response);
      expect(error.code).toBe('SR_INTERNAL');
      expect(error.message).toMatch(
        /^An unexpected error occurred\. The service log has the details under request id \S+\.$/,
      );
      expect(response.body).not.toContain('connection reset');
      const logged = h.logs.map(
        (line) => JSON.parse(line) as { level: number; err?: { message: string } },
      );
      expect(
        logged.some(
          (line) =>
            line.level === 50 && line.err?.message === 'connection reset while reading targets',
        ),
      ).toBe(true);
    });

    it('rejects a login when the audit event fails', async () => {
      const failingAudit: AuditLog = createAuditLog(
        { audit: { appendEvent: () => Promise.reject(new Error('disk full')) } },
        h.logger,
      );
      const app = await buildServer({ ...h, audit: failingAudit, now: () => h.clock.now });

      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'auditor1', password: passwordOf('auditor') },
      });
      await app.close();

      expect(response.statusCode).toBe(503);
      expect(errorOf(response).code).toBe('SR_AUDIT_WRITE_FAILED');
      expect(response.body).not.toContain('"token"');
    });
  });

  describe('health', () => {
    it('reports providers and database', async () => {
      const response = await h.app.inject({ method: 'GET', url: '/health' });

      expect(response.statusCode).toBe(200);
      const body = response.json<{
        healthy: boolean;
        activeProvider: string;
        providers: Array<{ kind: string; ready: boolean }>;
        database: { dialect: string; reachable: boolean };
      }>();
      expect(body.healthy).toBe(true);
      expect(body.activeProvider).toBe('file');
      expect(body.providers).toEqual([expect.objectContaining({ kind: 'file', ready: true })]);
      expect(body.database).toEqual({ dialect: h.store.dialect, reachable: true });
    });

    it('answers 503 when not healthy', async () => {
      const health: HealthService = {
        check: async () => ({
          healthy: false,
          activeProvider: 'hsm',
          providers: [
            {
              kind: 'hsm',
              ready: false,
              keyId: 'pam-master-key',
              detail: { error: 'SR_HSM_UNAVAILABLE' },
            },
          ],
          database: { dialect: h.store.dialect, reachable: true },
        }),
      };
      const app = await buildServer({ ...h, health });

      const response = await app.inject({ method: 'GET', url: '/health' });
      await app.close();

      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({
        healthy: false,
        providers: [{ kind: 'hsm', ready: false, detail: { error: 'SR_HSM_UNAVAILABLE' } }],
      });
    });
  });

  describe('audit events', () => {
    it('pages with afterSeq and filters by action', async () => {
      const first = await as('auditor', { method: 'GET', url: '/api/v1/audit/events?limit=2' });
      const firstEvents = first.json<{ events: Array<{ seq: number }> }>().events;
      const next = await as('auditor', {
        method: 'GET',
        url: `/api/v1/audit/events?limit=2&afterSeq=${firstEvents[1]!.seq}`,
      });
      const reveals = await as('auditor', {
        method: 'GET',
        url: '/api/v1/audit/events?action=secret.reveal',
      });

      expect(firstEvents).toHaveLength(2);
      expect(next.json<{ events: Array<{ seq: number }> }>().events[0]!.seq).toBeGreaterThan(
        firstEvents[1]!.seq,
      );
      const actions = reveals
        .json<{ events: Array<{ action: string }> }>()
        .events.map((event) => event.action);
      expect(actions.length).toBeGreaterThan(0);
      expect(new Set(actions)).toEqual(new Set(['secret.reveal']));
    });

    it('never contains passwords, tokens or secrets', async () => {
      const response = await as('auditor', {
        method: 'GET',
        url: '/api/v1/audit/events?limit=1000',
      });

      for (const role of ROLES) {
        expect(response.body).not.toContain(passwordOf(role));
      }
      for (const token of h.issuedTokens) {
        expect(response.body).not.toContain(token);
      }
      expect(response.body).not.toContain(SECRET);
    });
  });

  describe('logs', () => {
    it('never contain passwords, tokens or secrets', () => {
      const log = h.logs.join('\n');

      expect(log).toContain('request completed');
      for (const role of ROLES) {
        expect(log).not.toContain(passwordOf(role));
      }
      expect(log).not.toContain('not the operator password');
      for (const token of h.issuedTokens) {
        expect(log).not.toContain(token);
      }
      expect(log).not.toContain(SECRET);
      expect(log.toLowerCase()).not.toContain('authorization');
    });

    it('record requests by allow-list', () => {
      const requests = h.logs
        .map((line) => JSON.parse(line) as { req?: Record<string, unknown> })
        .filter((line) => line.req !== undefined);

      expect(requests.length).toBeGreaterThan(0);
      for (const { req } of requests) {
        expect(Object.keys(req!).sort()).toEqual(['method', 'remoteAddress', 'url']);
        expect(String(req!['url'])).not.toContain('?');
      }
    });

    it('record 4xx at info and 5xx at error', () => {
      const rejections = h.logs
        .map((line) => JSON.parse(line) as { level: number; msg: string; code?: string })
        .filter((line) => line.msg === 'request rejected' || line.msg === 'request failed');

      const forbidden = rejections.filter((line) => line.code === 'SR_FORBIDDEN');
      const internal = rejections.filter((line) => line.code === 'SR_INTERNAL');
      expect(forbidden.length).toBeGreaterThan(0);
      expect(forbidden.every((line) => line.level === 30)).toBe(true);
      expect(internal.length).toBeGreaterThan(0);
      expect(internal.every((line) => line.level === 50)).toBe(true);
    });
  });
});
