import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { verifyAuditChain } from '../../src/audit/chain/verify.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import type { Role } from '../../src/auth/users.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import type { CheckpointMacKey } from '../../src/keys/mac-key.js';
import { createServiceMetrics, type ServiceMetrics } from '../../src/observability/index.js';
import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import type { ApiCall } from '../support/people.js';
import {
  createTestKeyFile,
  createUsers,
  passwordFor,
  startTestNode,
  type TestClock,
  type TestKeyFile,
  type TestNode,
} from '../support/service.js';

/**
 * Every route of the API against every role, an application API token, no session, and every
 * state of the operator's grant for the account the route touches. The routes come from
 * /openapi.json, so a new route without a row here fails the first test.
 */

// The web console's routes under /console (and the redirect of /) are hidden from /openapi.json, so
// this matrix does not list them. They call the same requirePermission hooks and services as the
// API; test/integration/console-security.test.ts checks their roles, sessions and CSRF tokens.

/** A role's session, `app` for an API token scoped to the fixture's account, or no token. */
type Principal = Role | 'app' | 'none';
const PRINCIPALS: Principal[] = ['administrator', 'auditor', 'operator', 'approver', 'app', 'none'];

type GrantState = 'none' | 'pending' | 'approved' | 'expired' | 'checked out by another';
const STATES: GrantState[] = ['none', 'pending', 'approved', 'expired', 'checked out by another'];

const NOW = new Date('2032-01-10T12:00:00.000Z');

/** The objects a row's request refers to, made fresh for each grant state. */
interface Fixture {
  targetId: string;
  accountId: string;
  /** The operator's request in this state; a random id in the state `none`. */
  requestId: string;
  breakGlassId: string;
  scratchGroupId: string;
  victimId: string;
  /** An API token for the account, the `app` principal's. */
  appToken: string;
  /** Another API token, for the revoke route to revoke. */
  scratchApiTokenId: string;
}

interface RowRequest {
  method: string;
  url: string;
  body?: unknown;
}

/** Expected status per principal; a number applies to every grant state. */
type Expectation = Partial<Record<Principal, number | Record<GrantState, number>>>;

interface Row {
  request(fixture: Fixture): RowRequest;
  /**
   * Statuses of principals not listed: 401 without a session or with an API token (the status of
   * `none` on a public route), 403 for a role.
   */
  expect: Expectation;
  /** True when a request may change what the next principal finds, so each state gets its own fixture. */
  fresh?: boolean;
  /** True for routes that need no session; `none` then defaults to the listed status too. */
  public?: boolean;
}

const ALL_ROLES = (status: number): Expectation => ({
  administrator: status,
  auditor: status,
  operator: status,
  approver: status,
});

const byState = (
  none: number,
  pending: number,
  approved: number,
  expired: number,
  checkedOut: number,
): Record<GrantState, number> => ({
  none,
  pending,
  approved,
  expired,
  'checked out by another': checkedOut,
});

const unique = () => randomUUID().slice(0, 8);

/** Expiry of the fixtures' API tokens, 30 days after the suite's clock. */
const API_TOKEN_EXPIRY = new Date(NOW.getTime() + 30 * 86_400_000).toISOString();

/** The body that creates an API token for one account, usable from loopback. */
const apiTokenBody = (accountId: string) => ({
  name: `app-${unique()}`,
  accountIds: [accountId],
  allowedNetworks: ['127.0.0.0/8', '::1/128'],
  expiresAt: API_TOKEN_EXPIRY,
});

const IMPORT_HEADER =
  'target_name,target_address,target_description,account_username,secret_type,secret,account_description';

/** Keyed by "METHOD /openapi/path", as /openapi.json names them. */
const ROWS: Record<string, Row> = {
  'GET /health': {
    public: true,
    request: () => ({ method: 'GET', url: '/health' }),
    expect: { ...ALL_ROLES(200), none: 200 },
  },
  'POST /api/v1/auth/login': {
    public: true,
    request: () => ({
      method: 'POST',
      url: '/api/v1/auth/login',
      body: { username: 'auditor', password: passwordFor('auditor') },
    }),
    expect: { ...ALL_ROLES(200), none: 200 },
  },
  'POST /api/v1/auth/logout': {
    request: () => ({ method: 'POST', url: '/api/v1/auth/logout' }),
    expect: ALL_ROLES(204),
  },
  'GET /api/v1/me': {
    request: () => ({ method: 'GET', url: '/api/v1/me' }),
    expect: ALL_ROLES(200),
  },
  'POST /api/v1/auth/totp/enrol': {
    request: () => ({ method: 'POST', url: '/api/v1/auth/totp/enrol' }),
    expect: ALL_ROLES(200),
  },
  'POST /api/v1/auth/totp/confirm': {
    fresh: true,
    request: () => ({ method: 'POST', url: '/api/v1/auth/totp/confirm', body: { code: '000000' } }),
    expect: ALL_ROLES(409),
  },
  'GET /api/v1/users': {
    request: () => ({ method: 'GET', url: '/api/v1/users' }),
    expect: { administrator: 200, auditor: 200 },
  },
  'POST /api/v1/users': {
    request: () => ({
      method: 'POST',
      url: '/api/v1/users',
      body: { username: `new-${unique()}`, password: 'a long enough password', role: 'operator' },
    }),
    expect: { administrator: 201 },
  },
  'GET /api/v1/users/{userId}': {
    request: (f) => ({ method: 'GET', url: `/api/v1/users/${f.victimId}` }),
    expect: { administrator: 200, auditor: 200 },
  },
  'POST /api/v1/users/{userId}/unlock': {
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.victimId}/unlock` }),
    expect: { administrator: 200 },
  },
  'POST /api/v1/users/{userId}/reset-totp': {
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.victimId}/reset-totp` }),
    expect: { administrator: 200 },
  },
  'POST /api/v1/users/{userId}/disable': {
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.victimId}/disable` }),
    expect: { administrator: 200 },
  },
  'POST /api/v1/users/{userId}/enable': {
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.victimId}/enable` }),
    expect: { administrator: 200 },
  },
  'PUT /api/v1/users/{userId}/role': {
    request: (f) => ({
      method: 'PUT',
      url: `/api/v1/users/${f.victimId}/role`,
      body: { role: 'auditor' },
    }),
    expect: { administrator: 200 },
  },
  'GET /api/v1/groups': {
    request: () => ({ method: 'GET', url: '/api/v1/groups' }),
    expect: { administrator: 200, auditor: 200 },
  },
  'POST /api/v1/groups': {
    request: () => ({ method: 'POST', url: '/api/v1/groups', body: { name: `g-${unique()}` } }),
    expect: { administrator: 201 },
  },
  'GET /api/v1/groups/{groupId}': {
    request: (f) => ({ method: 'GET', url: `/api/v1/groups/${f.scratchGroupId}` }),
    expect: { administrator: 200, auditor: 200 },
  },
  'PUT /api/v1/groups/{groupId}/members/{userId}': {
    request: (f) => ({
      method: 'PUT',
      url: `/api/v1/groups/${f.scratchGroupId}/members/${f.victimId}`,
    }),
    expect: { administrator: 200 },
  },
  'DELETE /api/v1/groups/{groupId}/members/{userId}': {
    fresh: true,
    request: (f) => ({
      method: 'DELETE',
      url: `/api/v1/groups/${f.scratchGroupId}/members/${f.victimId}`,
    }),
    expect: { administrator: 200 },
  },
  'POST /api/v1/targets': {
    request: () => ({
      method: 'POST',
      url: '/api/v1/targets',
      body: { name: `t-${unique()}`, address: '192.0.2.1' },
    }),
    expect: { administrator: 201 },
  },
  'GET /api/v1/targets': {
    request: () => ({ method: 'GET', url: '/api/v1/targets' }),
    expect: ALL_ROLES(200),
  },
  'GET /api/v1/targets/{targetId}': {
    request: (f) => ({ method: 'GET', url: `/api/v1/targets/${f.targetId}` }),
    expect: ALL_ROLES(200),
  },
  'POST /api/v1/targets/{targetId}/accounts': {
    request: (f) => ({
      method: 'POST',
      url: `/api/v1/targets/${f.targetId}/accounts`,
      body: { username: `svc-${unique()}`, secret: 'matrix secret' },
    }),
    expect: { administrator: 201 },
  },
  'GET /api/v1/targets/{targetId}/accounts': {
    request: (f) => ({ method: 'GET', url: `/api/v1/targets/${f.targetId}/accounts` }),
    expect: ALL_ROLES(200),
  },
  'GET /api/v1/targets/{targetId}/grants': {
    request: (f) => ({ method: 'GET', url: `/api/v1/targets/${f.targetId}/grants` }),
    expect: { administrator: 200, auditor: 200 },
  },
  'PUT /api/v1/targets/{targetId}/grants/{groupId}': {
    request: (f) => ({
      method: 'PUT',
      url: `/api/v1/targets/${f.targetId}/grants/${f.scratchGroupId}`,
    }),
    expect: { administrator: 200 },
  },
  'DELETE /api/v1/targets/{targetId}/grants/{groupId}': {
    fresh: true,
    request: (f) => ({
      method: 'DELETE',
      url: `/api/v1/targets/${f.targetId}/grants/${f.scratchGroupId}`,
    }),
    expect: { administrator: 200 },
  },
  'GET /api/v1/targets/{targetId}/policy': {
    request: (f) => ({ method: 'GET', url: `/api/v1/targets/${f.targetId}/policy` }),
    expect: ALL_ROLES(200),
  },
  'PUT /api/v1/targets/{targetId}/policy': {
    fresh: true,
    request: (f) => ({
      method: 'PUT',
      url: `/api/v1/targets/${f.targetId}/policy`,
      body: { approverGroupId: f.scratchGroupId },
    }),
    expect: { administrator: 200 },
  },
  'GET /api/v1/accounts/{accountId}': {
    request: (f) => ({ method: 'GET', url: `/api/v1/accounts/${f.accountId}` }),
    expect: ALL_ROLES(200),
  },
  'POST /api/v1/accounts/{accountId}/reveal': {
    request: (f) => ({
      method: 'POST',
      url: `/api/v1/accounts/${f.accountId}/reveal`,
      body: { reason: 'matrix reveal' },
    }),
    expect: { operator: byState(403, 403, 200, 403, 409) },
  },
  'POST /api/v1/accounts/{accountId}/checkout': {
    fresh: true,
    request: (f) => ({
      method: 'POST',
      url: `/api/v1/accounts/${f.accountId}/checkout`,
      body: { reason: 'matrix checkout' },
    }),
    expect: { operator: byState(403, 403, 200, 403, 409) },
  },
  'POST /api/v1/accounts/{accountId}/checkin': {
    request: (f) => ({ method: 'POST', url: `/api/v1/accounts/${f.accountId}/checkin` }),
    expect: { operator: 409 },
  },
  'POST /api/v1/access-requests': {
    request: (f) => ({
      method: 'POST',
      url: '/api/v1/access-requests',
      body: { accountId: f.accountId, reason: 'matrix request', durationSeconds: 600 },
    }),
    expect: { operator: 201 },
  },
  'GET /api/v1/access-requests': {
    request: () => ({ method: 'GET', url: '/api/v1/access-requests' }),
    expect: ALL_ROLES(200),
  },
  'GET /api/v1/access-requests/{requestId}': {
    request: (f) => ({ method: 'GET', url: `/api/v1/access-requests/${f.requestId}` }),
    expect: {
      administrator: byState(404, 200, 200, 200, 200),
      auditor: byState(404, 200, 200, 200, 200),
      operator: byState(404, 200, 200, 200, 200),
      approver: byState(404, 200, 200, 200, 200),
    },
  },
  'POST /api/v1/access-requests/{requestId}/approve': {
    fresh: true,
    request: (f) => ({
      method: 'POST',
      url: `/api/v1/access-requests/${f.requestId}/approve`,
      body: { comment: 'matrix' },
    }),
    expect: { approver: byState(404, 200, 409, 409, 409) },
  },
  'POST /api/v1/access-requests/{requestId}/reject': {
    fresh: true,
    request: (f) => ({
      method: 'POST',
      url: `/api/v1/access-requests/${f.requestId}/reject`,
      body: { comment: 'matrix' },
    }),
    expect: { approver: byState(404, 200, 409, 409, 409) },
  },
  'POST /api/v1/access-requests/{requestId}/cancel': {
    fresh: true,
    request: (f) => ({ method: 'POST', url: `/api/v1/access-requests/${f.requestId}/cancel` }),
    expect: { operator: byState(404, 200, 409, 409, 409) },
  },
  'POST /api/v1/break-glass': {
    request: (f) => ({
      method: 'POST',
      url: '/api/v1/break-glass',
      body: { accountId: f.accountId, reason: 'matrix emergency', durationSeconds: 600 },
    }),
    expect: { administrator: 201 },
  },
  'POST /api/v1/break-glass/{requestId}/confirm': {
    fresh: true,
    request: (f) => ({ method: 'POST', url: `/api/v1/break-glass/${f.breakGlassId}/confirm` }),
    expect: { administrator: 200 },
  },
  'GET /api/v1/audit/events': {
    request: () => ({ method: 'GET', url: '/api/v1/audit/events?limit=1' }),
    expect: { administrator: 200, auditor: 200 },
  },
  'GET /api/v1/audit/chain': {
    request: () => ({ method: 'GET', url: '/api/v1/audit/chain' }),
    expect: { administrator: 200, auditor: 200 },
  },
  'GET /api/v1/accounts/{accountId}/secret-versions': {
    request: (f) => ({ method: 'GET', url: `/api/v1/accounts/${f.accountId}/secret-versions` }),
    expect: ALL_ROLES(200),
  },
  'POST /api/v1/accounts/{accountId}/secret-versions': {
    request: (f) => ({
      method: 'POST',
      url: `/api/v1/accounts/${f.accountId}/secret-versions`,
      body: { secret: `matrix secret ${unique()}`, reason: 'matrix rotation' },
    }),
    expect: { administrator: 201 },
  },
  'POST /api/v1/import': {
    request: () => ({
      method: 'POST',
      url: '/api/v1/import',
      body: {
        csv: `${IMPORT_HEADER}\nimp-${unique()},192.0.2.9,,root,password,imported secret,\n`,
      },
    }),
    expect: { administrator: 201 },
  },
  'GET /api/v1/api-tokens': {
    request: () => ({ method: 'GET', url: '/api/v1/api-tokens' }),
    expect: { administrator: 200 },
  },
  'POST /api/v1/api-tokens': {
    request: (f) => ({
      method: 'POST',
      url: '/api/v1/api-tokens',
      body: apiTokenBody(f.accountId),
    }),
    expect: { administrator: 201 },
  },
  'POST /api/v1/api-tokens/{tokenId}/revoke': {
    fresh: true,
    request: (f) => ({ method: 'POST', url: `/api/v1/api-tokens/${f.scratchApiTokenId}/revoke` }),
    expect: { administrator: 200 },
  },
  // Applications retrieve without the access workflow, so the grant state does not matter, and
  // a login session is no API token.
  'GET /api/v1/app/accounts/{accountId}/secret': {
    request: (f) => ({ method: 'GET', url: `/api/v1/app/accounts/${f.accountId}/secret` }),
    expect: { ...ALL_ROLES(401), app: 200 },
  },
  'GET /metrics': {
    public: true,
    request: () => ({ method: 'GET', url: '/metrics' }),
    expect: { ...ALL_ROLES(200), app: 200, none: 200 },
  },
};

function expectedStatus(row: Row, principal: Principal, state: GrantState): number {
  const entry = row.expect[principal];
  if (entry === undefined && principal === 'app' && row.public === true) {
    return expectedStatus(row, 'none', state);
  }
  if (entry === undefined) {
    return principal === 'none' || principal === 'app' ? 401 : 403;
  }
  return typeof entry === 'number' ? entry : entry[state];
}

describeEachDialect('authorization matrix', (database) => {
  let store: Store;
  let keyFile: TestKeyFile;
  let node: TestNode;
  let call: ApiCall;
  let ids: Record<string, string>;
  let checkpointKey: CheckpointMacKey;
  let metrics: ServiceMetrics;
  const clock: TestClock = { now: NOW };
  const roleUser: Record<Role, string> = {
    administrator: 'admin',
    auditor: 'auditor',
    operator: 'op',
    approver: 'approver',
  };

  /** Issues a full session for a user straight into the store: this suite tests authorization. */
  async function sessionFor(username: string): Promise<string> {
    const token = generateToken();
    await store.users.insertSession({
      tokenHash: hashToken(token),
      userId: ids[username]!,
      createdAt: clock.now.toISOString(),
      expiresAt: new Date(NOW.getTime() + 86_400_000).toISOString(),
      clientAddress: '127.0.0.1',
      scope: 'full',
    });
    return token;
  }

  async function ok(username: string, request: RowRequest, status = 200): Promise<string> {
    const reply = await call(request.method, request.url, {
      token: await sessionFor(username),
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    expect(reply.status, `${request.method} ${request.url}: ${JSON.stringify(reply.json)}`).toBe(
      status,
    );
    return reply.json.id as string;
  }

  /** Requests access as `operator` and has the approver approve it. */
  async function approvedRequest(operator: string, accountId: string): Promise<string> {
    const requestId = await requestAccess(operator, accountId);
    await ok('approver', {
      method: 'POST',
      url: `/api/v1/access-requests/${requestId}/approve`,
      body: {},
    });
    return requestId;
  }

  function requestAccess(operator: string, accountId: string): Promise<string> {
    return ok(
      operator,
      {
        method: 'POST',
        url: '/api/v1/access-requests',
        body: { accountId, reason: 'matrix set-up', durationSeconds: 600 },
      },
      201,
    );
  }

  /** Builds a target with its own groups, grant and policy, and the grant state asked for. */
  async function createFixture(state: GrantState): Promise<Fixture> {
    for (const id of Object.values(ids)) {
      await store.users.resetTotp(id);
    }
    const post = (url: string, body: unknown) => ok('admin', { method: 'POST', url, body }, 201);
    const put = (url: string, body?: unknown) =>
      ok('admin', { method: 'PUT', url, ...(body === undefined ? {} : { body }) });

    const targetId = await post('/api/v1/targets', { name: `m-${unique()}`, address: '192.0.2.7' });
    const accountId = await post(`/api/v1/targets/${targetId}/accounts`, {
      username: 'root',
      secret: 'matrix secret',
    });
    const operators = await post('/api/v1/groups', { name: `ops-${unique()}` });
    const approvers = await post('/api/v1/groups', { name: `apr-${unique()}` });
    const scratchGroupId = await post('/api/v1/groups', { name: `scr-${unique()}` });
    await put(`/api/v1/groups/${operators}/members/${ids['op']}`);
    await put(`/api/v1/groups/${operators}/members/${ids['op2']}`);
    await put(`/api/v1/groups/${approvers}/members/${ids['approver']}`);
    await put(`/api/v1/groups/${scratchGroupId}/members/${ids['victim']}`);
    await put(`/api/v1/targets/${targetId}/grants/${operators}`);
    await put(`/api/v1/targets/${targetId}/grants/${scratchGroupId}`);
    await put(`/api/v1/targets/${targetId}/policy`, { approverGroupId: approvers });
    const breakGlassId = await ok(
      'admin2',
      {
        method: 'POST',
        url: '/api/v1/break-glass',
        body: { accountId, reason: 'matrix set-up', durationSeconds: 600 },
      },
      201,
    );

    const appToken = await createApiToken(accountId);
    const scratchApiToken = await createApiToken(accountId);

    const requestId = await createGrantState(state, accountId);
    return {
      targetId,
      accountId,
      requestId,
      breakGlassId,
      scratchGroupId,
      victimId: ids['victim']!,
      appToken: appToken.token,
      scratchApiTokenId: scratchApiToken.id,
    };
  }

  async function createApiToken(accountId: string): Promise<{ token: string; id: string }> {
    const reply = await call('POST', '/api/v1/api-tokens', {
      token: await sessionFor('admin'),
      body: apiTokenBody(accountId),
    });
    expect(reply.status, JSON.stringify(reply.json)).toBe(201);
    return { token: reply.json.token as string, id: reply.json.apiToken.id as string };
  }

  async function createGrantState(state: GrantState, accountId: string): Promise<string> {
    switch (state) {
      case 'none':
        return randomUUID();
      case 'pending':
        return requestAccess('op', accountId);
      case 'approved':
        return approvedRequest('op', accountId);
      case 'expired': {
        clock.now = new Date(NOW.getTime() - 3_600_000);
        try {
          return await approvedRequest('op', accountId);
        } finally {
          clock.now = NOW;
        }
      }
      case 'checked out by another': {
        const requestId = await approvedRequest('op', accountId);
        await approvedRequest('op2', accountId);
        await ok('op2', {
          method: 'POST',
          url: `/api/v1/accounts/${accountId}/checkout`,
          body: { reason: 'held by another operator' },
        });
        return requestId;
      }
    }
  }

  beforeAll(async () => {
    store = await database.openStore();
    keyFile = await createTestKeyFile();
    checkpointKey = await openFileCheckpointKey(keyFile.path);
    metrics = createServiceMetrics(database.logger);
    node = await startTestNode({
      store,
      keyFile,
      logger: database.logger,
      clock,
      auditChain: { verify: () => verifyAuditChain(store.audit, [checkpointKey]) },
      metrics: { registry: metrics.registry, access: { kind: 'loopback' } },
    });
    call = node.call;
    ids = await createUsers(store, {
      admin: 'administrator',
      admin2: 'administrator',
      auditor: 'auditor',
      op: 'operator',
      op2: 'operator',
      approver: 'approver',
      victim: 'operator',
    });
  });

  afterAll(async () => {
    await node?.close();
    metrics?.stop();
    await checkpointKey?.close();
    await keyFile?.remove();
  });

  it('has a row for every route', async () => {
    const document = (await call('GET', '/openapi.json')).json as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );

    expect(Object.keys(ROWS).sort()).toEqual(operations.sort());
  });

  for (const state of STATES) {
    describe(`grant ${state}`, () => {
      let shared: Fixture;

      beforeAll(async () => {
        shared = await createFixture(state);
      });

      for (const [name, row] of Object.entries(ROWS)) {
        it(name, async () => {
          const fixture = row.fresh === true ? await createFixture(state) : shared;
          const actual: Record<string, number> = {};
          const expected: Record<string, number> = {};

          for (const principal of PRINCIPALS) {
            const request = row.request(fixture);
            const token =
              principal === 'none'
                ? undefined
                : principal === 'app'
                  ? fixture.appToken
                  : await sessionFor(roleUser[principal]);
            const reply = await call(request.method, request.url, {
              ...(token === undefined ? {} : { token }),
              ...(request.body === undefined ? {} : { body: request.body }),
            });
            actual[principal] = reply.status;
            expected[principal] = expectedStatus(row, principal, state);
          }

          expect(actual).toEqual(expected);
        });
      }
    });
  }
});
