import { afterAll, beforeAll, expect, it } from 'vitest';

import type { Store } from '../../src/store/repositories.js';
import { generateTotpCode } from '../../src/auth/totp.js';
import { consoleLogin, consoleLoginAs, type ConsoleSession } from '../support/console-client.js';
import { describeEachDialect } from '../support/databases.js';
import { startVaultServer, type VaultServer } from '../support/vault-server.js';

const START = new Date('2031-05-04T10:00:00.000Z');
const MANY_LOGINS = { max: 1000, windowSeconds: 60 };

describeEachDialect('console administration', (context) => {
  let store: Store;
  let server: VaultServer;
  let admin: ConsoleSession;
  let targetId: string;
  let accountId: string;

  beforeAll(async () => {
    store = await context.openStore();
    server = await startVaultServer(store, START, { loginRateLimit: MANY_LOGINS });
    const target = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'mail-relay', address: '10.0.9.2' },
    });
    targetId = target.json<{ id: string }>().id;
    const account = await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${targetId}/accounts`,
      payload: { username: 'relay', secret: 'relay-secret-Tt40' },
    });
    accountId = account.json<{ id: string }>().id;
    admin = await consoleLogin(server, 'administrator');
  });

  afterAll(async () => {
    await server.close();
  });

  async function userNamed(username: string) {
    return store.users.findUserByName(username);
  }

  it('creates a user and audits it', async () => {
    const response = await admin.post('/console/users', {
      username: 'ursula',
      password: 'ursula passphrase 2031',
      role: 'auditor',
    });
    const events = await store.audit.listEvents({ limit: 1000, action: 'user.create' });

    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/console/users?notice=user-created');
    expect((await userNamed('ursula'))?.role).toBe('auditor');
    expect(events.at(-1)).toMatchObject({ actor: 'administrator1', outcome: 'success' });
    expect(JSON.stringify(events)).not.toContain('ursula passphrase 2031');
  });

  it('labels user cells for stacked rows', async () => {
    const page = await admin.get('/console/users');

    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<table class="stacked">');
    for (const label of ['User', 'Role', 'State', 'TOTP', 'Change']) {
      expect(page.body, label).toContain(`data-label="${label}"`);
    }
  });

  it('links an error page to the dashboard', async () => {
    const page = await admin.get('/console/targets/00000000-0000-4000-8000-000000000000');

    expect(page.statusCode).toBe(404);
    expect(page.body).toContain('Back to the dashboard');
  });

  it('shows an invalid role next to the form', async () => {
    const response = await admin.post('/console/users', {
      username: 'victor',
      password: 'victor passphrase 2031',
      role: 'superuser',
    });

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('SR_USER_INVALID');
    expect(await userNamed('victor')).toBeUndefined();
  });

  it('disables a user only after confirmation', async () => {
    const user = (await userNamed('ursula'))!;

    const unconfirmed = await admin.post(`/console/users/${user.id}/disable`);
    expect(unconfirmed.statusCode).toBe(400);
    expect(unconfirmed.body).toContain('must be ticked to confirm');
    expect((await userNamed('ursula'))?.disabled).toBe(false);

    const confirmed = await admin.post(`/console/users/${user.id}/disable`, { confirm: 'yes' });
    expect(confirmed.statusCode).toBe(303);
    expect((await userNamed('ursula'))?.disabled).toBe(true);

    const enabled = await admin.post(`/console/users/${user.id}/enable`);
    expect(enabled.statusCode).toBe(303);
    expect((await userNamed('ursula'))?.disabled).toBe(false);
  });

  it('changes the role of a user', async () => {
    const user = (await userNamed('ursula'))!;
    const response = await admin.post(`/console/users/${user.id}/role`, { role: 'approver' });

    expect(response.statusCode).toBe(303);
    expect((await userNamed('ursula'))?.role).toBe('approver');
  });

  it('refuses to disable the acting administrator', async () => {
    const me = (await userNamed('administrator1'))!;
    const response = await admin.post(`/console/users/${me.id}/disable`, { confirm: 'yes' });

    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.body).toMatch(/SR_SELF_ADMINISTRATION|SR_LAST_ADMINISTRATOR/);
    expect((await userNamed('administrator1'))?.disabled).toBe(false);
  });

  it('creates a group, adds a member and grants a target', async () => {
    const created = await admin.post('/console/groups', { name: 'relay-operators' });
    const group = (await store.groups.listGroups()).find(
      (item) => item.name === 'relay-operators',
    )!;
    const operator = (await userNamed('operator1'))!;
    const member = await admin.post(`/console/groups/${group.id}/members`, {
      userId: operator.id,
      change: 'add',
    });
    const grant = await admin.post(`/console/groups/${group.id}/grants`, {
      targetId,
      change: 'grant',
    });
    const page = await admin.get('/console/groups');

    expect(created.statusCode).toBe(303);
    expect(member.statusCode).toBe(303);
    expect(grant.statusCode).toBe(303);
    expect(page.body).toContain('Members: operator1.');
    expect(page.body).toContain('Granted targets: mail-relay.');
  });

  it('rejects a group name with a control character', async () => {
    const response = await admin.post('/console/groups', { name: 'bad\u0007name' });

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('contains a control character');
  });

  it('shows a new API token once and revokes it after confirmation', async () => {
    const created = await admin.post('/console/api-tokens', {
      name: 'relay-batch',
      accountIds: [accountId],
      allowedNetworks: '127.0.0.0/8, ::1/128',
      expiresInDays: '30',
    });
    const token = /id="created-token"[^>]*>([^<]+)</.exec(created.body)?.[1];
    const listed = await admin.get('/console/api-tokens');
    const tokenId = (await store.apiTokens.listTokens())[0]!.id;

    expect(created.statusCode).toBe(200);
    expect(created.headers['cache-control']).toBe('no-store');
    expect(token).toMatch(/\S{20,}/);
    expect(listed.body).toContain('relay-batch');
    expect(listed.body).not.toContain(token!);
    expect(server.logs.join('\n')).not.toContain(token!);

    const unconfirmed = await admin.post(`/console/api-tokens/${tokenId}/revoke`);
    expect(unconfirmed.statusCode).toBe(400);
    expect((await store.apiTokens.listTokens())[0]!.revokedAt).toBeUndefined();

    const revoked = await admin.post(`/console/api-tokens/${tokenId}/revoke`, { confirm: 'yes' });
    expect(revoked.statusCode).toBe(303);
    expect((await store.apiTokens.listTokens())[0]!.revokedAt).toBeDefined();
  });

  it('rejects an API token without accounts', async () => {
    const response = await admin.post('/console/api-tokens', {
      name: 'no-scope',
      allowedNetworks: '10.0.0.0/8',
      expiresInDays: '30',
    });

    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('The field accountIds must name at least one account');
  });

  it('shows the key management page', async () => {
    const response = await admin.get('/console/keys');

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('Active provider: <strong>file</strong>');
    expect(response.body).toMatch(
      /<td>file<\/td><td><code>[0-9a-f]+<\/code><\/td><td><code>[0-9a-f]{6}<\/code><\/td><td>\d+<\/td>/,
    );
  });

  it('filters audit events by actor, action and time', async () => {
    const all = await admin.get('/console/audit?actor=administrator1&action=user.');
    const future = await admin.get('/console/audit?actor=administrator1&from=2040-01-01T00:00Z');
    const invalid = await admin.get('/console/audit?from=yesterday');

    expect(all.statusCode).toBe(200);
    expect(all.body).toContain('<td>user.create</td>');
    expect(all.body).not.toContain('<td>group.create</td>');
    expect(future.body).toContain('No events match.');
    expect(invalid.statusCode).toBe(400);
    expect(invalid.body).toContain('The field from is not a valid time');
    expect(invalid.body).toContain('aria-invalid="true"');
  });

  it('enrols TOTP of a new operator', async () => {
    await admin.post('/console/users', {
      username: 'otto',
      password: 'otto passphrase 2031',
      role: 'operator',
    });
    const credentials = { username: 'otto', password: 'otto passphrase 2031', totpCode: '' };
    const session = await consoleLoginAs(server, credentials);
    const dashboard = await session.get('/console');

    expect(session.landing).toBe('/console/enrol');
    expect(dashboard.statusCode).toBe(303);
    expect(dashboard.headers.location).toBe('/console/enrol');

    const begun = await session.post('/console/enrol/begin');
    const secret = /id="totp-secret"[^>]*>([A-Z2-7]+)</.exec(begun.body)?.[1];
    expect(begun.statusCode).toBe(200);
    expect(begun.body).not.toContain('href="/console/targets"');
    expect(secret).toBeDefined();
    expect(server.logs.join('\n')).not.toContain(secret!);

    const past = new Date(server.clock.now.getTime() - 10 * 60_000);
    const wrong = await session.post('/console/enrol/confirm', {
      code: generateTotpCode(secret!, past),
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('SR_TOTP_CODE_INVALID');

    const confirmed = await session.post('/console/enrol/confirm', {
      code: generateTotpCode(secret!, server.clock.now),
    });
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.body).toContain('Your authenticator app is enrolled');
    expect((await session.get('/console')).statusCode).toBe(401);

    const next = new Date(server.clock.now.getTime() + 30_000);
    const again = await consoleLoginAs(server, {
      ...credentials,
      totpCode: generateTotpCode(secret!, next),
    });
    expect(again.landing).toBe('/console');
    expect((await again.get('/console')).statusCode).toBe(200);
  });

  it('escapes user input in pages', async () => {
    await admin.post('/console/groups', { name: '<script>alert(1)</script>' });
    const page = await admin.get('/console/groups');

    expect(page.body).not.toContain('<script>alert(1)</script>');
    expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
