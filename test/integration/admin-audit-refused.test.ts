import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import { describeEachDialect } from '../support/databases.js';
import { BLOCK_AUDIT, startAuditedServer, type AuditedServer } from '../support/audited-server.js';

/**
 * Every administrative change against an audit table that rejects inserts: the request fails with
 * SR_AUDIT_WRITE_FAILED and the database shows no change.
 */
describeEachDialect('admin changes with an unwritable audit table', (context) => {
  let server: AuditedServer;
  let targetId: string;
  let accountId: string;
  let groupId: string;
  let memberGroupId: string;
  let approverGroupId: string;

  beforeAll(async () => {
    server = await startAuditedServer(context, {
      admin: 'administrator',
      admin2: 'administrator',
      op: 'operator',
      approver: 'approver',
      victim: 'operator',
    });
    targetId = await created('POST', '/api/v1/targets', { name: 'db01', address: '192.0.2.1' });
    accountId = await created('POST', `/api/v1/targets/${targetId}/accounts`, {
      username: 'root',
      secret: 'admin audit secret',
    });
    groupId = await created('POST', '/api/v1/groups', { name: 'operators' });
    memberGroupId = await created('POST', '/api/v1/groups', { name: 'members' });
    approverGroupId = await created('POST', '/api/v1/groups', { name: 'approvers' });
    await admin('PUT', `/api/v1/groups/${groupId}/members/${server.userIds['op']}`);
    await admin('PUT', `/api/v1/groups/${memberGroupId}/members/${server.userIds['victim']}`);
    await admin('PUT', `/api/v1/groups/${approverGroupId}/members/${server.userIds['approver']}`);
    await admin('PUT', `/api/v1/targets/${targetId}/grants/${groupId}`);
    await admin('PUT', `/api/v1/targets/${targetId}/policy`, { approverGroupId });
  });

  afterAll(async () => {
    await server?.close();
  });

  beforeEach(async () => {
    // A test that failed half-way may have left the table blocked.
    await runAll(BLOCK_AUDIT[context.dialect].unblock).catch(() => undefined);
  });

  async function admin(method: string, url: string, body?: unknown) {
    const reply = await server.call(method, url, { token: server.tokens['admin'], body });
    expect(reply.status, JSON.stringify(reply.json)).toBeLessThan(300);
    return reply;
  }

  async function created(method: string, url: string, body: unknown): Promise<string> {
    return (await admin(method, url, body)).json.id as string;
  }

  async function runAll(statements: readonly string[]): Promise<void> {
    for (const statement of statements) {
      await context.runSql(server.url, statement);
    }
  }

  /** Sends the request with audit_events blocked and checks the error and the unmoved chain. */
  async function sendWithAuditBlocked(
    method: string,
    url: string,
    options: { token?: string; body?: unknown } = {},
  ) {
    const headBefore = await server.store.audit.readChainHead();
    await runAll(BLOCK_AUDIT[context.dialect].block);
    let reply;
    try {
      reply = await server.call(method, url, { token: server.tokens['admin'], ...options });
    } finally {
      await runAll(BLOCK_AUDIT[context.dialect].unblock);
    }
    expect(reply.status, JSON.stringify(reply.json)).toBe(503);
    expect((reply.json.error as { code: string }).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect(await server.store.audit.readChainHead()).toEqual(headBefore);
  }

  it('target creation leaves no target', async () => {
    await sendWithAuditBlocked('POST', '/api/v1/targets', {
      body: { name: 'db02', address: '192.0.2.2' },
    });

    const names = (await server.store.vault.listTargets()).map((target) => target.name);
    expect(names).toEqual(['db01']);
  });

  it('account creation leaves no account or DEK', async () => {
    const deksBefore = await context.runSql(server.url, 'select id from deks');

    await sendWithAuditBlocked('POST', `/api/v1/targets/${targetId}/accounts`, {
      body: { username: 'backup', secret: 'another secret' },
    });

    const usernames = (await server.store.vault.listAccounts(targetId)).map((a) => a.username);
    expect(usernames).toEqual(['root']);
    expect(await context.runSql(server.url, 'select id from deks')).toHaveLength(deksBefore.length);
  });

  it('user creation leaves no user', async () => {
    await sendWithAuditBlocked('POST', '/api/v1/users', {
      body: { username: 'newcomer', password: 'a long enough password', role: 'auditor' },
    });

    expect(await server.store.users.findUserByName('newcomer')).toBeUndefined();
  });

  it('group creation leaves no group', async () => {
    await sendWithAuditBlocked('POST', '/api/v1/groups', { body: { name: 'auditors' } });

    const names = (await server.store.groups.listGroups()).map((group) => group.name);
    expect(names).not.toContain('auditors');
  });

  it('member addition leaves no membership', async () => {
    await sendWithAuditBlocked(
      'PUT',
      `/api/v1/groups/${groupId}/members/${server.userIds['victim']}`,
    );

    expect(await server.store.groups.isMember(groupId, server.userIds['victim']!)).toBe(false);
  });

  it('member removal keeps the membership', async () => {
    await sendWithAuditBlocked(
      'DELETE',
      `/api/v1/groups/${memberGroupId}/members/${server.userIds['victim']}`,
    );

    expect(await server.store.groups.isMember(memberGroupId, server.userIds['victim']!)).toBe(true);
  });

  it('grant creation leaves no grant', async () => {
    await sendWithAuditBlocked('PUT', `/api/v1/targets/${targetId}/grants/${memberGroupId}`);

    const grants = (await server.store.groups.listGrants(targetId)).map((grant) => grant.groupId);
    expect(grants).toEqual([groupId]);
  });

  it('grant removal keeps the grant', async () => {
    await sendWithAuditBlocked('DELETE', `/api/v1/targets/${targetId}/grants/${groupId}`);

    const grants = (await server.store.groups.listGrants(targetId)).map((grant) => grant.groupId);
    expect(grants).toEqual([groupId]);
  });

  it('policy update keeps the old policy', async () => {
    const before = await server.store.groups.findPolicy(targetId);

    await sendWithAuditBlocked('PUT', `/api/v1/targets/${targetId}/policy`, {
      body: { approverGroupId: memberGroupId, approvalsRequired: 2 },
    });

    expect(await server.store.groups.findPolicy(targetId)).toEqual(before);
  });

  it('unlock keeps the lock', async () => {
    const lockedUntil = new Date(Date.now() + 3_600_000).toISOString();
    await server.store.users.lockUser(server.userIds['victim']!, lockedUntil);

    await sendWithAuditBlocked('POST', `/api/v1/users/${server.userIds['victim']}/unlock`);

    const victim = await server.store.users.findUserById(server.userIds['victim']!);
    expect(victim?.loginFailures?.lockedUntil).toBe(lockedUntil);
    await server.store.users.clearLoginFailures(server.userIds['victim']!);
  });

  it('TOTP reset keeps the secret and the session', async () => {
    await sendWithAuditBlocked('POST', `/api/v1/users/${server.userIds['op']}/reset-totp`);

    const operator = await server.store.users.findUserById(server.userIds['op']!);
    expect(operator?.totp?.confirmedAt).toBeDefined();
    const me = await server.call('GET', '/api/v1/me', { token: server.tokens['op'] });
    expect(me.status).toBe(200);
  });

  it('disable keeps the user enabled and logged in', async () => {
    await sendWithAuditBlocked('POST', `/api/v1/users/${server.userIds['op']}/disable`);

    const operator = await server.store.users.findUserById(server.userIds['op']!);
    expect(operator?.disabled).toBe(false);
    const me = await server.call('GET', '/api/v1/me', { token: server.tokens['op'] });
    expect(me.status).toBe(200);
  });

  it('enable keeps the user disabled', async () => {
    await server.store.users.setUserDisabled(server.userIds['victim']!, true);

    await sendWithAuditBlocked('POST', `/api/v1/users/${server.userIds['victim']}/enable`);

    const victim = await server.store.users.findUserById(server.userIds['victim']!);
    expect(victim?.disabled).toBe(true);
    await server.store.users.setUserDisabled(server.userIds['victim']!, false);
  });

  it('role change keeps the role and the session', async () => {
    await sendWithAuditBlocked('PUT', `/api/v1/users/${server.userIds['op']}/role`, {
      body: { role: 'auditor' },
    });

    const operator = await server.store.users.findUserById(server.userIds['op']!);
    expect(operator?.role).toBe('operator');
    const me = await server.call('GET', '/api/v1/me', { token: server.tokens['op'] });
    expect(me.status).toBe(200);
  });

  it('request cancel keeps the request pending', async () => {
    const request = await server.call('POST', '/api/v1/access-requests', {
      token: server.tokens['op'],
      body: { accountId, reason: 'nightly maintenance', durationSeconds: 600 },
    });
    expect(request.status, JSON.stringify(request.json)).toBe(201);
    const requestId = request.json.id as string;

    await sendWithAuditBlocked('POST', `/api/v1/access-requests/${requestId}/cancel`, {
      token: server.tokens['op']!,
    });

    expect((await server.store.access.findRequest(requestId))?.status).toBe('pending');
  });

  it('token revocation stays in force', async () => {
    const token = await admin('POST', '/api/v1/api-tokens', {
      name: 'deploy',
      accountIds: [accountId],
      allowedNetworks: ['127.0.0.0/8'],
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    const tokenId = (token.json.apiToken as { id: string }).id;

    await sendWithAuditBlocked('POST', `/api/v1/api-tokens/${tokenId}/revoke`);

    // Undoing the revocation would let a token work that an administrator meant to stop.
    expect((await server.store.apiTokens.findToken(tokenId))?.revokedAt).toBeDefined();
  });

  it('changes succeed once the table is writable', async () => {
    const reply = await server.call('POST', '/api/v1/groups', {
      token: server.tokens['admin'],
      body: { name: 'auditors' },
    });

    expect(reply.status).toBe(201);
  });
});
