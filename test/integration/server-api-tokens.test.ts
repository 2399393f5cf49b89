import { afterAll, beforeAll, expect, it } from 'vitest';

import { hashToken } from '../../src/auth/tokens.js';
import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import { errorOf, startVaultServer, type VaultServer } from '../support/vault-server.js';

const START = new Date('2030-06-01T08:00:00.000Z');
const IN_30_DAYS = '2030-07-01T08:00:00.000Z';
const APP_SECRET = 'app-readable-password-Hd73';
const OTHER_SECRET = 'not-in-scope-password-Wp18';

interface CreatedToken {
  token: string;
  apiToken: { id: string; state: string; accountIds: string[]; allowedNetworks: string[] };
}

describeEachDialect('API tokens', (context) => {
  let databaseUrl: string;
  let store: Store;
  let server: VaultServer;
  let accountId: string;
  let otherAccountId: string;
  /** A token for accountId from loopback, IPv4 and IPv6. */
  let loopbackToken: string;
  const issued: string[] = [];

  beforeAll(async () => {
    databaseUrl = await context.createDatabase();
    store = await context.openStore({ url: databaseUrl });
    server = await startVaultServer(store, START);
    const target = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'billing-db', address: '10.0.0.9' },
    });
    const targetId = target.json<{ id: string }>().id;
    accountId = await createAccount(targetId, 'billing', APP_SECRET);
    otherAccountId = await createAccount(targetId, 'root', OTHER_SECRET);
    loopbackToken = (await createToken({ allowedNetworks: ['127.0.0.0/8', '::1/128'] })).token;
  });

  afterAll(async () => {
    await server.close();
  });

  async function createAccount(targetId: string, username: string, secret: string) {
    const response = await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${targetId}/accounts`,
      payload: { username, secret },
    });
    return response.json<{ id: string }>().id;
  }

  async function createToken(overrides: Record<string, unknown> = {}): Promise<CreatedToken> {
    const response = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/api-tokens',
      payload: {
        name: 'billing-batch',
        accountIds: [accountId],
        allowedNetworks: ['127.0.0.1/32'],
        expiresAt: IN_30_DAYS,
        ...overrides,
      },
    });
    expect(response.statusCode, response.body).toBe(201);
    const created = response.json<CreatedToken>();
    issued.push(created.token);
    return created;
  }

  function retrieve(token: string, options: { account?: string; remoteAddress?: string } = {}) {
    return server.app.inject({
      method: 'GET',
      url: `/api/v1/app/accounts/${options.account ?? accountId}/secret`,
      headers: { authorization: `Bearer ${token}` },
      ...(options.remoteAddress === undefined ? {} : { remoteAddress: options.remoteAddress }),
    });
  }

  it('retrieves a secret in scope', async () => {
    const response = await retrieve(loopbackToken);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      secret: APP_SECRET,
      secretType: 'password',
      secretVersion: 1,
    });
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('shows the token once and stores its hash', async () => {
    const created = await createToken();

    expect(created.token).toMatch(/^sra_[A-Za-z0-9_-]{43}$/);
    const stored = await store.apiTokens.findToken(created.apiToken.id);
    expect(stored?.tokenHash).toBe(hashToken(created.token));
    const rows = await context.runSql(
      databaseUrl,
      `select * from api_tokens where id = '${created.apiToken.id}'`,
    );
    expect(JSON.stringify(rows)).not.toContain(created.token);

    const list = await server.as('administrator', { method: 'GET', url: '/api/v1/api-tokens' });
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(created.apiToken.id);
    for (const token of issued) {
      expect(list.body).not.toContain(token);
      expect(list.body).not.toContain(hashToken(token));
    }
  });

  it('refuses an account out of scope', async () => {
    const response = await retrieve(loopbackToken, { account: otherAccountId });

    expect(response.statusCode).toBe(403);
    expect(errorOf(response).code).toBe('SR_API_TOKEN_SCOPE');
    expect(response.body).not.toContain(OTHER_SECRET);
  });

  it('refuses 127.0.0.1 outside the allow-list', async () => {
    const { token } = await createToken({ allowedNetworks: ['10.1.0.0/16', '2001:db8::/32'] });

    const response = await retrieve(token, { remoteAddress: '127.0.0.1' });

    expect(response.statusCode).toBe(403);
    expect(errorOf(response).code).toBe('SR_API_TOKEN_ADDRESS');
    expect(errorOf(response).message).toContain('127.0.0.1');
  });

  it('checks IPv4 and IPv6 blocks', async () => {
    const { token } = await createToken({ allowedNetworks: ['10.1.0.0/16', '2001:db8::/32'] });
    const cases = [
      { remoteAddress: '10.1.200.3', status: 200 },
      { remoteAddress: '10.2.0.1', status: 403 },
      { remoteAddress: '2001:db8:5::7', status: 200 },
      { remoteAddress: '2001:db9::1', status: 403 },
      { remoteAddress: '::ffff:10.1.0.1', status: 200 },
    ];

    for (const { remoteAddress, status } of cases) {
      const response = await retrieve(token, { remoteAddress });
      expect(response.statusCode, remoteAddress).toBe(status);
    }
  });

  it('refuses an expired token', async () => {
    const { token } = await createToken({ expiresAt: '2030-06-01T09:00:00.000Z' });
    server.clock.now = new Date('2030-06-01T09:00:00.000Z');

    const response = await retrieve(token);
    server.clock.now = START;

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe('SR_API_TOKEN_REJECTED');
    expect(errorOf(response).message).toMatch(/expired at 2030-06-01T09:00:00.000Z/);
  });

  it('refuses a revoked token', async () => {
    const created = await createToken();
    expect((await retrieve(created.token)).statusCode).toBe(200);

    const revoke = await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/api-tokens/${created.apiToken.id}/revoke`,
    });
    const response = await retrieve(created.token);

    expect(revoke.statusCode).toBe(200);
    expect(revoke.json()).toMatchObject({ state: 'revoked', revokedBy: 'administrator1' });
    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe('SR_API_TOKEN_REJECTED');
    expect(errorOf(response).message).toMatch(/was revoked/);
  });

  it('second revoke is a conflict', async () => {
    const created = await createToken();
    const url = `/api/v1/api-tokens/${created.apiToken.id}/revoke`;
    await server.as('administrator', { method: 'POST', url });

    const again = await server.as('administrator', { method: 'POST', url });

    expect(again.statusCode).toBe(409);
  });

  it('refuses a session token on the app route', async () => {
    const response = await retrieve(server.tokens.administrator);

    expect(response.statusCode).toBe(401);
    expect(errorOf(response).code).toBe('SR_API_TOKEN_REJECTED');
    expect(errorOf(response).message).toMatch(/not login session tokens/);
  });

  it('refuses an API token on human routes', async () => {
    const routes = [
      { method: 'GET' as const, url: '/api/v1/targets' },
      { method: 'GET' as const, url: `/api/v1/accounts/${accountId}` },
      { method: 'POST' as const, url: `/api/v1/accounts/${accountId}/reveal` },
      { method: 'GET' as const, url: '/api/v1/api-tokens' },
    ];

    for (const route of routes) {
      const response = await server.app.inject({
        ...route,
        headers: { authorization: `Bearer ${loopbackToken}` },
        ...(route.method === 'POST' ? { payload: { reason: 'with an app token' } } : {}),
      });
      expect(response.statusCode, route.url).toBe(401);
      expect(errorOf(response).code, route.url).toBe('SR_API_TOKEN_REJECTED');
      expect(response.body, route.url).not.toContain(APP_SECRET);
    }
  });

  it('refuses a token in the URL', async () => {
    const response = await server.app.inject({
      method: 'GET',
      url: `/api/v1/app/accounts/${accountId}/secret?token=${loopbackToken}`,
    });

    expect(response.statusCode).toBe(400);
    expect(response.body).not.toContain(loopbackToken);
  });

  it('refuses a missing or unknown token', async () => {
    const missing = await server.app.inject({
      method: 'GET',
      url: `/api/v1/app/accounts/${accountId}/secret`,
    });
    const unknown = await retrieve(`sra_${'B'.repeat(43)}`);

    expect(missing.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(errorOf(unknown).message).toBe('The API token is unknown.');
  });

  it('audits every retrieval', async () => {
    const before = await store.audit.listEvents({ action: 'secret.retrieve', limit: 1000 });

    await retrieve(loopbackToken);
    await retrieve(loopbackToken, { account: otherAccountId });

    const events = (await store.audit.listEvents({ action: 'secret.retrieve', limit: 1000 })).slice(
      before.length,
    );
    expect(events).toMatchObject([
      { actor: 'api-token:billing-batch', objectId: accountId, outcome: 'success' },
      {
        actor: 'api-token:billing-batch',
        objectId: otherAccountId,
        outcome: 'failure',
        details: { refusal: 'account out of scope' },
      },
    ]);
  });

  it('refuses retrieval when the audit fails', async () => {
    server.auditSwitch.failing = true;
    const response = await retrieve(loopbackToken);
    server.auditSwitch.failing = false;

    expect(response.statusCode).toBe(503);
    expect(errorOf(response).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect(response.body).not.toContain(APP_SECRET);
  });

  it('undoes a creation that cannot be audited', async () => {
    const before = await store.apiTokens.listTokens();
    server.auditSwitch.failing = true;
    const response = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/api-tokens',
      payload: {
        name: 'unaudited',
        accountIds: [accountId],
        allowedNetworks: ['127.0.0.1'],
        expiresAt: IN_30_DAYS,
      },
    });
    server.auditSwitch.failing = false;

    expect(response.statusCode).toBe(503);
    expect(response.body).not.toMatch(/sra_/);
    expect(await store.apiTokens.listTokens()).toHaveLength(before.length);
  });

  it('rejects bad creation requests', async () => {
    const cases = [
      { allowedNetworks: ['10.0.0.0/33'], message: /'10.0.0.0\/33' is not an IPv4 or IPv6 CIDR/ },
      { allowedNetworks: ['example.com'], message: /'example.com' is not an IPv4 or IPv6 CIDR/ },
      { expiresAt: '2030-05-01T00:00:00.000Z', message: /must be a date-time after now/ },
      { expiresAt: '2032-06-01T00:00:00.000Z', message: /at most 366 days ahead/ },
      { accountIds: ['4b0e5b3c-2a4f-4e0e-9a7e-3c1d2e3f4a5b'], message: /does not exist/ },
    ];

    for (const { message, ...overrides } of cases) {
      const response = await server.as('administrator', {
        method: 'POST',
        url: '/api/v1/api-tokens',
        payload: {
          name: 'bad',
          accountIds: [accountId],
          allowedNetworks: ['127.0.0.1/32'],
          expiresAt: IN_30_DAYS,
          ...overrides,
        },
      });
      expect(response.statusCode, JSON.stringify(overrides)).toBeGreaterThanOrEqual(400);
      expect(errorOf(response).message, JSON.stringify(overrides)).toMatch(message);
    }
  });

  it('is managed by administrators only', async () => {
    for (const role of ['operator', 'auditor', 'approver'] as const) {
      const list = await server.as(role, { method: 'GET', url: '/api/v1/api-tokens' });
      expect(list.statusCode, role).toBe(403);
    }
  });

  it('works over a loopback socket', async () => {
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 });

    const allowed = await fetch(`${address}/api/v1/app/accounts/${accountId}/secret`, {
      headers: { authorization: `Bearer ${loopbackToken}` },
    });
    const { token: elsewhere } = await createToken({ allowedNetworks: ['192.0.2.0/24'] });
    const refused = await fetch(`${address}/api/v1/app/accounts/${accountId}/secret`, {
      headers: { authorization: `Bearer ${elsewhere}` },
    });

    expect(allowed.status).toBe(200);
    expect(((await allowed.json()) as { secret: string }).secret).toBe(APP_SECRET);
    expect(refused.status).toBe(403);
  });

  it('keeps tokens out of logs and audit', async () => {
    const events = await store.audit.listEvents({ limit: 1000 });
    const logs = server.logs.join('\n');

    for (const token of [...issued, loopbackToken]) {
      expect(logs).not.toContain(token);
      expect(JSON.stringify(events)).not.toContain(token);
    }
    expect(logs).not.toContain(APP_SECRET);
  });
});
