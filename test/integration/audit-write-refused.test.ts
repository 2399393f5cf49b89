import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { verifyAuditChain } from '../../src/audit/chain/verify.js';
import { createAuditLog } from '../../src/audit/log.js';
import { createUser, requiresTotp, type Role } from '../../src/auth/users.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { CheckpointMacKey } from '../../src/keys/mac-key.js';
import { buildServer } from '../../src/server/server.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import { describeEachDialect } from '../support/databases.js';
import {
  configureTargetAccess,
  enrolAndLogin,
  grantAccess,
  injectClient,
} from '../support/people.js';

const SECRET = 'Audit-refusal-secret-7f3a9c!';
const ROLES: Role[] = ['administrator', 'operator', 'approver', 'auditor'];
const passwordOf = (role: Role) => `${role} passphrase for the audit tests`;

/** SQL that makes every insert into audit_events fail, and SQL that undoes it. */
const BLOCK_AUDIT = {
  sqlite: {
    block: [
      `create trigger audit_events_read_only before insert on audit_events
       begin select raise(abort, 'audit_events is read-only for this test'); end`,
    ],
    unblock: [`drop trigger audit_events_read_only`],
  },
  postgres: {
    block: [
      `create function audit_events_read_only() returns trigger language plpgsql as $$
       begin raise exception 'audit_events is read-only for this test'; end $$`,
      `create trigger audit_events_read_only before insert on audit_events
       for each row execute function audit_events_read_only()`,
    ],
    unblock: [
      `drop trigger audit_events_read_only on audit_events`,
      `drop function audit_events_read_only()`,
    ],
  },
} as const;

describeEachDialect('reveal with an unwritable audit table', (context) => {
  let folder: string;
  let url: string;
  let store: Store;
  let keyring: Keyring;
  let checkpointKey: CheckpointMacKey;
  let app: FastifyInstance;
  const tokens = {} as Record<Role, string>;
  let accountId: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'strongroom-audit-refused-'));
    const keyFile = join(folder, 'master.key');
    await createKeyFile(keyFile);
    const provider = createFileProvider({ path: keyFile });
    await provider.open();
    url = await context.createDatabase();
    store = await context.openStore({ url });
    keyring = new Keyring({
      active: provider,
      secondary: undefined,
      keys: store.keys,
      cache: new DekCache(100, 60_000),
      logger: context.logger,
    });
    await keyring.verifyCanaries();
    checkpointKey = await openFileCheckpointKey(keyFile);

    const audit = createAuditLog(store, context.logger);
    const vault = createVaultService({
      vault: store.vault,
      keys: store.keys,
      keyring,
      audit,
      logger: context.logger,
    });
    app = await buildServer({
      store,
      vault,
      health: createHealthService(keyring, store, context.logger),
      audit,
      keyring,
      logger: context.logger,
      auditChain: { verify: () => verifyAuditChain(store.audit, [checkpointKey]) },
    });

    const call = injectClient(app);
    const userIds = {} as Record<Role, string>;
    for (const role of ROLES) {
      const username = `${role}1`;
      userIds[role] = (await createUser(store, { username, password: passwordOf(role), role })).id;
      if (requiresTotp(role)) {
        tokens[role] = (await enrolAndLogin(call, username, passwordOf(role), new Date())).token;
        continue;
      }
      const login = await call('POST', '/api/v1/auth/login', {
        body: { username, password: passwordOf(role) },
      });
      expect(login.status).toBe(200);
      tokens[role] = login.json.token as string;
    }
    const target = await as('administrator', {
      method: 'POST',
      url: '/api/v1/targets',
      payload: { name: 'db01', address: 'db01.example.internal', description: 'Primary database' },
    });
    const account = await as('administrator', {
      method: 'POST',
      url: `/api/v1/targets/${target.json<{ id: string }>().id}/accounts`,
      payload: { username: 'root', secret: SECRET },
    });
    accountId = account.json<{ id: string }>().id;

    // The operator reveals within an approved grant, as the access workflow requires.
    const parties = {
      admin: tokens.administrator,
      operator: tokens.operator,
      operatorId: userIds.operator,
      approver: tokens.approver,
      approverId: userIds.approver,
    };
    await configureTargetAccess(call, parties, target.json<{ id: string }>().id);
    await grantAccess(call, parties, accountId);
  });

  afterAll(async () => {
    await app?.close();
    await keyring?.close();
    await checkpointKey?.close();
    await rm(folder, { recursive: true, force: true });
  });

  function as(role: Role, options: InjectOptions) {
    return app.inject({
      ...options,
      headers: { ...options.headers, authorization: `Bearer ${tokens[role]}` },
    });
  }

  function reveal() {
    return as('operator', {
      method: 'POST',
      url: `/api/v1/accounts/${accountId}/reveal`,
      payload: { reason: 'incident 4711' },
    });
  }

  async function runAll(statements: readonly string[]): Promise<void> {
    for (const statement of statements) {
      await context.runSql(url, statement);
    }
  }

  it('reveal is refused without its event', async () => {
    const eventsBefore = await store.audit.readChainHead();
    await runAll(BLOCK_AUDIT[context.dialect].block);
    let response;
    try {
      response = await reveal();
    } finally {
      await runAll(BLOCK_AUDIT[context.dialect].unblock);
    }

    expect(response.statusCode).toBe(503);
    expect(response.json<{ error: { code: string } }>().error.code).toBe('SR_AUDIT_WRITE_FAILED');
    expect(response.body).not.toContain(SECRET);
    expect(response.body).not.toContain('"secret"');
    expect(await store.audit.readChainHead()).toEqual(eventsBefore);
  });

  it('reveal succeeds once the table is writable', async () => {
    const response = await reveal();

    expect(response.statusCode).toBe(200);
    expect(response.json<{ secret: string }>().secret).toBe(SECRET);
  });

  it('chain status is intact for an auditor', async () => {
    const response = await as('auditor', { method: 'GET', url: '/api/v1/audit/chain' });

    expect(response.statusCode).toBe(200);
    const body = response.json<{ intact: boolean; eventCount: number; findings: unknown[] }>();
    expect(body.findings).toEqual([]);
    expect(body.intact).toBe(true);
    expect(body.eventCount).toBeGreaterThan(0);
  });

  it('chain status shows a changed event', async () => {
    await context.runSql(url, `update audit_events set actor = 'nobody' where seq = 2`);

    const response = await as('administrator', { method: 'GET', url: '/api/v1/audit/chain' });

    const body = response.json<{
      intact: boolean;
      verifiedThroughSeq: number;
      findings: unknown[];
    }>();
    expect(body.intact).toBe(false);
    expect(body.findings).toEqual([expect.objectContaining({ kind: 'changed', seq: 2 })]);
    expect(body.verifiedThroughSeq).toBe(1);
  });

  it('chain status is forbidden to operators', async () => {
    const response = await as('operator', { method: 'GET', url: '/api/v1/audit/chain' });

    expect(response.statusCode).toBe(403);
  });
});
