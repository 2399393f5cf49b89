import { Writable } from 'node:stream';

import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino, { type Logger } from 'pino';

import { createAuditLog } from '../../src/audit/log.js';
import type { AuditLog } from '../../src/audit/types.js';
import { createUser, ROLES, type Role } from '../../src/auth/users.js';
import type { Keyring } from '../../src/keys/keyring.js';
import { buildServer } from '../../src/server/server.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import type { VaultService } from '../../src/vault/types.js';
import { openFileKeyring } from './file-keyring.js';

/** The real service on a real store and a file master key, with one logged-in user per role. */
export interface VaultServer {
  app: FastifyInstance;
  store: Store;
  keyring: Keyring;
  vault: VaultService;
  audit: AuditLog;
  /** Every log line the service wrote, as JSON text. */
  logs: string[];
  clock: { now: Date };
  /** Set `failing` to make every audit write fail, as a full or unwritable audit table would. */
  auditSwitch: { failing: boolean };
  tokens: Record<Role, string>;
  /** Sends a request with the session token of a role. */
  as(role: Role, request: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

const passwordOf = (role: Role) => `${role} passphrase for the tests`;

/** Starts the service with its clock at `start`. */
export async function startVaultServer(store: Store, start: Date): Promise<VaultServer> {
  const logs: string[] = [];
  const logger = captureLogger(logs);
  const clock = { now: start };
  const now = () => clock.now;

  const { keyring, close: closeKeyring } = await openFileKeyring(store.keys, logger);
  const auditSwitch = { failing: false };
  const auditStore = {
    audit: {
      appendEvent: (event: Parameters<Store['audit']['appendEvent']>[0]) =>
        auditSwitch.failing
          ? Promise.reject(new Error('audit table unavailable'))
          : store.audit.appendEvent(event),
    },
  };
  const audit = createAuditLog(auditStore, logger, { now });
  const vault = createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring,
    audit,
    logger,
    now,
  });
  const health = createHealthService(keyring, store, logger);
  const app = await buildServer({ store, vault, health, audit, keyring, logger, now });

  const tokens = {} as Record<Role, string>;
  for (const role of ROLES) {
    if ((await store.users.findUserByName(`${role}1`)) === undefined) {
      await createUser(store, { username: `${role}1`, password: passwordOf(role), role });
    }
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: `${role}1`, password: passwordOf(role) },
    });
    tokens[role] = response.json<{ token: string }>().token;
  }

  return {
    app,
    store,
    keyring,
    vault,
    audit,
    logs,
    clock,
    auditSwitch,
    tokens,
    as: (role, request) =>
      app.inject({
        ...request,
        headers: { ...request.headers, authorization: `Bearer ${tokens[role]}` },
      }),
    close: async () => {
      await app.close();
      await closeKeyring();
    },
  };
}

export function errorOf(response: LightMyRequestResponse): { code: string; message: string } {
  return response.json<{ error: { code: string; message: string } }>().error;
}

function captureLogger(lines: string[]): Logger {
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
  return pino({ level: 'trace' }, stream);
}
