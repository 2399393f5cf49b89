import { Writable } from 'node:stream';

import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino, { type Logger } from 'pino';

import { createAuditLog } from '../../src/audit/log.js';
import type { AuditLog } from '../../src/audit/types.js';
import { createUser, requiresTotp, ROLES, type Role } from '../../src/auth/users.js';
import type { Keyring } from '../../src/keys/keyring.js';
import { generateTotpCode } from '../../src/auth/totp.js';
import type { RequestRateLimit } from '../../src/server/rate-limit.js';
import type { LoginRateLimit } from '../../src/server/routes/auth.js';
import { buildServer, type TlsMaterial } from '../../src/server/server.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import type { VaultService } from '../../src/vault/types.js';
import { openFileKeyring } from './file-keyring.js';
import {
  configureTargetAccess,
  enrolTotp,
  grantAccess,
  injectClient,
  loginWithTotp,
  type ApiCall,
  type TotpDevice,
} from './people.js';

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
  /**
   * Lets operator1 reveal the account for 8 hours: a grant on its target for a group of operator1,
   * a policy naming a group of approver1, and an approved request. Call it once per target for the grant
   * and policy; later calls for accounts of the same target add only the request.
   */
  allowReveal(targetId: string, accountId: string): Promise<void>;
  /**
   * Returns the user name, password and next TOTP code of the user of a role, for a login outside
   * the REST API such as the web console's. The code is of the step after the last one used. When
   * that step is ahead of the clock, the clock moves to it, by up to 30 s per login.
   */
  nextLogin(role: Role): { username: string; password: string; totpCode: string };
  close(): Promise<void>;
}

/** Options of startVaultServer beyond the store and the clock. */
export interface VaultServerOptions {
  tls?: TlsMaterial;
  consoleIdleSeconds?: number;
  loginRateLimit?: LoginRateLimit;
  appRateLimit?: RequestRateLimit;
}

const passwordOf = (role: Role) => `${role} passphrase for the tests`;

/** Access period of allowReveal: 8 hours, the default policy maximum, so tests may move the clock. */
const GRANT_SECONDS = 8 * 3600;

/** TOTP devices of the users of each store, so that a restarted server can log them in again. */
const devicesByStore = new WeakMap<Store, Partial<Record<Role, TotpDevice>>>();

/** Starts the service with its clock at `start`; `options` overrides settings of the server. */
export async function startVaultServer(
  store: Store,
  start: Date,
  options: VaultServerOptions = {},
): Promise<VaultServer> {
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
  const app = await buildServer(
    {
      store,
      vault,
      health,
      audit,
      keyring,
      logger,
      now,
      ...(options.consoleIdleSeconds === undefined
        ? {}
        : { consoleIdleSeconds: options.consoleIdleSeconds }),
      ...(options.loginRateLimit === undefined ? {} : { loginRateLimit: options.loginRateLimit }),
      ...(options.appRateLimit === undefined ? {} : { appRateLimit: options.appRateLimit }),
    },
    options.tls === undefined ? {} : { tls: options.tls },
  );

  const call = injectClient(app);
  const tokens = {} as Record<Role, string>;
  const ids = {} as Record<Role, string>;
  const devices = devicesByStore.get(store) ?? {};
  devicesByStore.set(store, devices);
  for (const role of ROLES) {
    const username = `${role}1`;
    const existing = await store.users.findUserByName(username);
    ids[role] =
      existing?.id ?? (await createUser(store, { username, password: passwordOf(role), role })).id;
    tokens[role] = await logIn(call, role, devices, start);
  }
  const configuredTargets = new Set<string>();
  const parties = () => ({
    admin: tokens.administrator,
    operator: tokens.operator,
    operatorId: ids.operator,
    approver: tokens.approver,
    approverId: ids.approver,
  });

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
    allowReveal: async (targetId, accountId) => {
      if (!configuredTargets.has(targetId)) {
        await configureTargetAccess(call, parties(), targetId);
        configuredTargets.add(targetId);
      }
      await grantAccess(call, parties(), accountId, GRANT_SECONDS);
    },
    nextLogin: (role) => {
      const device = devices[role];
      if (device === undefined) {
        return { username: `${role}1`, password: passwordOf(role), totpCode: '' };
      }
      const at = new Date(
        Math.max(device.lastCodeAt.getTime() + 30_000, clock.now.getTime() - 30_000),
      );
      device.lastCodeAt = at;
      if (at > clock.now) {
        clock.now = at;
      }
      return {
        username: `${role}1`,
        password: passwordOf(role),
        totpCode: generateTotpCode(device.secret, at),
      };
    },
    close: async () => {
      await app.close();
      await closeKeyring();
    },
  };
}

/**
 * Logs in the user of `role`: with the password alone for a role without TOTP, otherwise with a
 * TOTP code, enrolling the device on the first login. The code is of a step after both the last
 * code used and `now - 30 s`, so that a server whose clock moved accepts it.
 */
async function logIn(
  call: ApiCall,
  role: Role,
  devices: Partial<Record<Role, TotpDevice>>,
  now: Date,
): Promise<string> {
  const username = `${role}1`;
  if (!requiresTotp(role)) {
    const response = await call('POST', '/api/v1/auth/login', {
      body: { username, password: passwordOf(role) },
    });
    return response.json.token as string;
  }

  const device = devices[role] ?? (await enrolTotp(call, username, passwordOf(role), now));
  devices[role] = device;
  const earliest = now.getTime() - 30_000;
  if (device.lastCodeAt.getTime() < earliest) {
    device.lastCodeAt = new Date(earliest);
  }
  return loginWithTotp(call, username, passwordOf(role), device);
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
