import { afterAll, beforeAll, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/log.js';
import { UserAdminService } from '../../src/auth/user-admin.js';
import { describeEachDialect } from '../support/databases.js';
import { passwordOf, startAuditedServer, type AuditedServer } from '../support/audited-server.js';

describeEachDialect('user disable, enable and role change', (context) => {
  let server: AuditedServer;

  beforeAll(async () => {
    server = await startAuditedServer(context, {
      admin: 'administrator',
      admin2: 'administrator',
      op: 'operator',
      auditor: 'auditor',
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  const asAdmin = (method: string, url: string, body?: unknown) =>
    server.call(method, url, { token: server.tokens['admin'], body });

  const me = (username: string) =>
    server.call('GET', '/api/v1/me', { token: server.tokens[username] });

  const errorCode = (reply: { json: Record<string, unknown> }) =>
    (reply.json.error as { code: string }).code;

  async function lastEvent(): Promise<Record<string, unknown>> {
    const [row] = await context.runSql(
      server.url,
      'select action, actor, object_id, details from audit_events order by seq desc limit 1',
    );
    return { ...row, details: JSON.parse(String(row!.details)) as unknown };
  }

  it('disable ends sessions and blocks login', async () => {
    const reply = await asAdmin('POST', `/api/v1/users/${server.userIds['auditor']}/disable`);

    expect(reply.status, JSON.stringify(reply.json)).toBe(200);
    expect(reply.json.disabled).toBe(true);
    expect(await lastEvent()).toMatchObject({
      action: 'user.disable',
      object_id: server.userIds['auditor'],
      actor: 'admin',
    });
    expect((await me('auditor')).status).toBe(401);
    const login = await server.call('POST', '/api/v1/auth/login', {
      body: { username: 'auditor', password: passwordOf('auditor') },
    });
    expect(login.status).toBe(401);
  });

  it('enable lets the user log in', async () => {
    const reply = await asAdmin('POST', `/api/v1/users/${server.userIds['auditor']}/enable`);

    expect(reply.status).toBe(200);
    expect(reply.json.disabled).toBe(false);
    expect(await lastEvent()).toMatchObject({ action: 'user.enable' });
    await server.login('auditor');
    expect((await me('auditor')).status).toBe(200);
  });

  it('enable of an enabled user records nothing', async () => {
    const headBefore = await server.store.audit.readChainHead();

    const reply = await asAdmin('POST', `/api/v1/users/${server.userIds['auditor']}/enable`);

    expect(reply.status).toBe(200);
    expect(await server.store.audit.readChainHead()).toEqual(headBefore);
  });

  it('role change ends sessions', async () => {
    const reply = await asAdmin('PUT', `/api/v1/users/${server.userIds['auditor']}/role`, {
      role: 'approver',
    });

    expect(reply.status).toBe(200);
    expect(reply.json.role).toBe('approver');
    expect((await me('auditor')).status).toBe(401);
    expect(await lastEvent()).toMatchObject({
      action: 'user.role.change',
      details: { username: 'auditor', from: 'auditor', to: 'approver' },
    });
  });

  it('role change rejects an unknown role', async () => {
    const reply = await asAdmin('PUT', `/api/v1/users/${server.userIds['op']}/role`, {
      role: 'superuser',
    });

    expect(reply.status).toBe(400);
  });

  it('own disable is rejected', async () => {
    const reply = await asAdmin('POST', `/api/v1/users/${server.userIds['admin']}/disable`);

    expect(reply.status).toBe(409);
    expect(errorCode(reply)).toBe('SR_SELF_ADMINISTRATION');
  });

  it('own role change is rejected', async () => {
    const reply = await asAdmin('PUT', `/api/v1/users/${server.userIds['admin']}/role`, {
      role: 'auditor',
    });

    expect(reply.status).toBe(409);
    expect(errorCode(reply)).toBe('SR_SELF_ADMINISTRATION');
  });

  it('last administrator cannot be disabled or demoted', async () => {
    // Through REST the acting administrator is always an active one, so the last one can only
    // be reached by the CLI, which acts as an operating-system user through the same service.
    const admins = new UserAdminService(
      server.store.users,
      createAuditLog(server.store, context.logger),
    );
    const cli = { username: 'os:root', clientAddress: 'cli' };
    await admins.setDisabled(server.userIds['admin2']!, true, cli);

    await expect(admins.setDisabled(server.userIds['admin']!, true, cli)).rejects.toMatchObject({
      code: 'SR_LAST_ADMINISTRATOR',
    });
    await expect(admins.setRole(server.userIds['admin']!, 'operator', cli)).rejects.toMatchObject({
      code: 'SR_LAST_ADMINISTRATOR',
    });
    expect((await server.store.users.findUserById(server.userIds['admin']!))?.role).toBe(
      'administrator',
    );

    await admins.setDisabled(server.userIds['admin2']!, false, cli);
    await expect(admins.setRole(server.userIds['admin']!, 'operator', cli)).resolves.toMatchObject({
      role: 'operator',
    });
  });

  it('cancel of an unknown request is not found', async () => {
    const reply = await server.call(
      'POST',
      '/api/v1/access-requests/00000000-0000-4000-8000-000000000000/cancel',
      { token: server.tokens['op'] },
    );

    expect(reply.status).toBe(404);
  });
});
