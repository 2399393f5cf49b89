import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';

import { createAuditLog } from '../../src/audit/log.js';
import { createUser, requiresTotp, type Role } from '../../src/auth/users.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import { buildServer } from '../../src/server/server.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import type { DialectContext } from './databases.js';
import { enrolAndLogin, injectClient, type ApiCall } from './people.js';

export const passwordOf = (username: string) => `${username} passphrase for the admin tests`;

/** A server over a fresh database with a key file, and sessions of named users. */
export interface AuditedServer {
  url: string;
  store: Store;
  app: FastifyInstance;
  call: ApiCall;
  /** Session tokens by user name. */
  tokens: Record<string, string>;
  /** User ids by user name. */
  userIds: Record<string, string>;
  /** Logs `username` in and stores the new session token in `tokens`. */
  login(username: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts a server and creates and logs in one user per entry of `users` (name to role). */
export async function startAuditedServer(
  context: DialectContext,
  users: Record<string, Role>,
): Promise<AuditedServer> {
  const folder = await mkdtemp(join(tmpdir(), 'strongroom-admin-audit-'));
  const keyFile = join(folder, 'master.key');
  await createKeyFile(keyFile);
  const provider = createFileProvider({ path: keyFile });
  await provider.open();
  const url = await context.createDatabase();
  const store = await context.openStore({ url });
  const keyring = new Keyring({
    active: provider,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(100, 60_000),
    logger: context.logger,
  });
  await keyring.verifyCanaries();

  const audit = createAuditLog(store, context.logger);
  const vault = createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring,
    audit,
    logger: context.logger,
  });
  const app = await buildServer({
    store,
    vault,
    health: createHealthService(keyring, store, context.logger),
    audit,
    keyring,
    logger: context.logger,
    // The tests log in more often than a person would.
    loginRateLimit: { max: 1000, windowSeconds: 60 },
  });
  const call = injectClient(app);

  const tokens: Record<string, string> = {};
  const userIds: Record<string, string> = {};
  const roles = new Map(Object.entries(users));
  async function login(username: string): Promise<string> {
    const role = roles.get(username)!;
    if (requiresTotp(role)) {
      // A role that requires TOTP enrols on its first login; later logins reuse a fresh session.
      tokens[username] = (
        await enrolAndLogin(call, username, passwordOf(username), new Date())
      ).token;
      return tokens[username];
    }
    const reply = await call('POST', '/api/v1/auth/login', {
      body: { username, password: passwordOf(username) },
    });
    if (reply.status !== 200) {
      throw new Error(
        `login of ${username} failed with ${reply.status}: ${JSON.stringify(reply.json)}`,
      );
    }
    tokens[username] = reply.json.token as string;
    return tokens[username];
  }

  for (const [username, role] of roles) {
    userIds[username] = (
      await createUser(store, { username, password: passwordOf(username), role })
    ).id;
    await login(username);
  }

  return {
    url,
    store,
    app,
    call,
    tokens,
    userIds,
    login,
    async close() {
      await app.close();
      await keyring.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** SQL that makes every insert into audit_events fail, and SQL that undoes it. */
export const BLOCK_AUDIT = {
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
