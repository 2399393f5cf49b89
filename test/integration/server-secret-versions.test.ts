import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import { errorOf, startVaultServer, type VaultServer } from '../support/vault-server.js';

const START = new Date('2030-06-01T08:00:00.000Z');
const FIRST_SECRET = 'first-password-for-db01-Vx93';
const SECOND_SECRET = 'second-password-for-db01-Qm27';
const SSH_KEY = readFileSync(
  join(import.meta.dirname, '..', 'fixtures', 'ssh-keys', 'openssh-ed25519'),
  'utf8',
);

interface Version {
  version: number;
  secretType: string;
  createdBy: string;
  reason: string;
  current: boolean;
  createdAt: string;
}

describeEachDialect('secret versions API', (context) => {
  let store: Store;
  let server: VaultServer;
  let accountId: string;

  beforeAll(async () => {
    store = await context.openStore();
    server = await startVaultServer(store, START);
    const target = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'db01', address: '10.0.0.1' },
    });
    const account = await server.as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${target.json<{ id: string }>().id}/accounts`,
      payload: { username: 'root', secret: FIRST_SECRET },
    });
    accountId = account.json<{ id: string }>().id;
    await server.allowReveal(target.json<{ id: string }>().id, accountId);
  });

  afterAll(async () => {
    await server.close();
  });

  const reveal = () =>
    server.as('operator', {
      method: 'POST',
      url: `/api/v1/accounts/${accountId}/reveal`,
      payload: { reason: 'check the current version' },
    });

  const setSecret = (payload: Record<string, unknown>) =>
    server.as('administrator', {
      method: 'POST',
      url: `/api/v1/accounts/${accountId}/secret-versions`,
      payload,
    });

  const listVersions = async () =>
    (
      await server.as('auditor', {
        method: 'GET',
        url: `/api/v1/accounts/${accountId}/secret-versions`,
      })
    ).json<{ versions: Version[] }>().versions;

  it('new version is what reveal returns', async () => {
    server.clock.now = new Date('2030-06-01T09:00:00.000Z');

    const response = await setSecret({ secret: SECOND_SECRET, reason: 'quarterly rotation' });

    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({
      accountId,
      version: 2,
      secretType: 'password',
      createdAt: '2030-06-01T09:00:00.000Z',
      createdBy: 'administrator1',
      reason: 'quarterly rotation',
      current: true,
    });
    expect(response.body).not.toContain(SECOND_SECRET);
    expect((await reveal()).json()).toEqual({ secret: SECOND_SECRET, secretVersion: 2 });
  });

  it('lists versions as metadata only', async () => {
    const response = await server.as('auditor', {
      method: 'GET',
      url: `/api/v1/accounts/${accountId}/secret-versions`,
    });

    expect(response.statusCode).toBe(200);
    expect(response.body).not.toContain(FIRST_SECRET);
    expect(response.body).not.toContain(SECOND_SECRET);
    const versions = response.json<{ versions: Version[] }>().versions;
    expect(versions.map((version) => [version.version, version.current, version.reason])).toEqual([
      [2, true, 'quarterly rotation'],
      [1, false, 'Account created.'],
    ]);
  });

  it('each version has its own DEK', async () => {
    const versions = await store.secretVersions.listVersions(accountId);
    const deks = await Promise.all(versions.map((version) => store.keys.findDek(version.dekId)));

    expect(new Set(versions.map((version) => version.dekId)).size).toBe(versions.length);
    expect(deks.every((dek) => dek !== undefined)).toBe(true);
  });

  it('records an audit event without the secret', async () => {
    const events = await store.audit.listEvents({ action: 'secret.update', limit: 10 });

    expect(events.at(-1)).toMatchObject({
      actor: 'administrator1',
      objectId: accountId,
      outcome: 'success',
      reason: 'quarterly rotation',
      details: { secretVersion: 2, secretType: 'password' },
    });
    expect(JSON.stringify(events)).not.toContain(SECOND_SECRET);
  });

  it('switches the type to an SSH key', async () => {
    const response = await setSecret({
      secret: SSH_KEY,
      secretType: 'ssh-private-key',
      reason: 'move to key login',
    });

    expect(response.statusCode).toBe(201);
    expect(response.json<Version>().secretType).toBe('ssh-private-key');
    expect((await reveal()).json()).toEqual({ secret: SSH_KEY, secretVersion: 3 });
    const account = await server.as('operator', {
      method: 'GET',
      url: `/api/v1/accounts/${accountId}`,
    });
    expect(account.json()).toMatchObject({ secretType: 'ssh-private-key', secretVersion: 3 });
  });

  it('rejects an invalid key without echoing it', async () => {
    const notAKey = 'this-is-a-password-Lk20-not-a-key';

    const response = await setSecret({ secret: notAKey, reason: 'keep the key type' });

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe('SR_SECRET_INVALID');
    expect(response.body).not.toContain(notAKey);
    expect(server.logs.join('\n')).not.toContain(notAKey);
    expect((await listVersions())[0]?.version).toBe(3);
  });

  it('is refused to non-administrators', async () => {
    for (const role of ['operator', 'auditor', 'approver'] as const) {
      const response = await server.as(role, {
        method: 'POST',
        url: `/api/v1/accounts/${accountId}/secret-versions`,
        payload: { secret: 'x-Password-1', secretType: 'password', reason: 'not allowed' },
      });

      expect(response.statusCode, role).toBe(403);
      expect(errorOf(response).code, role).toBe('SR_FORBIDDEN');
    }
  });

  it('account creation checks the key', async () => {
    const targetId = (await store.vault.listTargets())[0]?.id ?? '';
    const create = (username: string, secret: string) =>
      server.as('administrator', {
        method: 'POST',
        url: `/api/v1/targets/${targetId}/accounts`,
        payload: { username, secret, secretType: 'ssh-private-key' },
      });

    const valid = await create('deploy', SSH_KEY);
    const invalid = await create('broken', 'password-Jy66-is-not-a-key');

    expect(valid.statusCode).toBe(201);
    expect(valid.json()).toMatchObject({ secretType: 'ssh-private-key', secretVersion: 1 });
    expect(invalid.statusCode).toBe(400);
    expect(errorOf(invalid).code).toBe('SR_SECRET_INVALID');
    expect(invalid.body).not.toContain('password-Jy66-is-not-a-key');
    expect((await store.vault.listAccounts(targetId)).map((account) => account.username)).toEqual([
      'deploy',
      'root',
    ]);
  });

  it('unknown account is not found', async () => {
    const response = await server.as('administrator', {
      method: 'POST',
      url: '/api/v1/accounts/4b0e5b3c-2a4f-4e0e-9a7e-3c1d2e3f4a5b/secret-versions',
      payload: { secret: 'x-Password-1', reason: 'no such account' },
    });

    expect(response.statusCode).toBe(404);
  });

  it('is refused when the audit fails', async () => {
    const before = await listVersions();
    server.auditSwitch.failing = true;

    const response = await setSecret({
      secret: 'unaudited-password-Rt55',
      secretType: 'password',
      reason: 'audit is down',
    });
    server.auditSwitch.failing = false;

    expect(response.statusCode).toBe(503);
    expect(errorOf(response).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect(await listVersions()).toEqual(before);
    expect((await reveal()).json()).toEqual({ secret: SSH_KEY, secretVersion: 3 });
  });
});
