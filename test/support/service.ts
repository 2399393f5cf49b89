import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import {
  createAccessWorkflow,
  DEFAULT_ACCESS_SETTINGS,
  type SweepResult,
} from '../../src/access/index.js';
import { createAuditLog } from '../../src/audit/log.js';
import type { LockoutSettings } from '../../src/auth/lockout.js';
import { createUser, type Role } from '../../src/auth/users.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { LoginRateLimit } from '../../src/server/routes/auth.js';
import type { MetricsEndpoint } from '../../src/server/routes/metrics.js';
import { buildServer, type ServerDependencies } from '../../src/server/server.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import { injectClient, type ApiCall } from './people.js';

/** A test clock that tests move by hand. */
export interface TestClock {
  now: Date;
}

/** A master key file in a temporary folder, shared by every node of a test. */
export interface TestKeyFile {
  path: string;
  remove(): Promise<void>;
}

export async function createTestKeyFile(): Promise<TestKeyFile> {
  const folder = await mkdtemp(path.join(tmpdir(), 'strongroom-key-'));
  const keyPath = path.join(folder, 'master.key');
  await createKeyFile(keyPath);
  return { path: keyPath, remove: () => rm(folder, { recursive: true, force: true }) };
}

export interface TestNode {
  app: FastifyInstance;
  call: ApiCall;
  keyring: Keyring;
  /** Runs one expiry sweep, as the service timer does, over the same store. */
  sweep(): Promise<SweepResult>;
  close(): Promise<void>;
}

export interface TestNodeOptions {
  store: Store;
  keyFile: TestKeyFile;
  logger: Logger;
  clock: TestClock;
  lockout?: LockoutSettings;
  loginRateLimit?: LoginRateLimit;
  /** Registers GET /api/v1/audit/chain with this verifier. */
  auditChain?: ServerDependencies['auditChain'];
  /** Registers GET /metrics. */
  metrics?: MetricsEndpoint;
}

/**
 * Builds one service node on a store with the file master key, the real vault and the real access
 * workflow, with its timer sweep off so that tests run sweeps when they choose.
 */
export async function startTestNode(options: TestNodeOptions): Promise<TestNode> {
  const { store, logger } = options;
  const now = () => options.clock.now;
  const provider = createFileProvider({ path: options.keyFile.path });
  await provider.open();
  const keyring = new Keyring({
    active: provider,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(100, 60_000),
    logger,
  });
  await keyring.verifyCanaries();

  const audit = createAuditLog(store, logger, { now });
  const vault = createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring,
    audit,
    logger,
    now,
  });
  const app = await buildServer({
    store,
    vault,
    health: createHealthService(keyring, store, logger),
    audit,
    logger,
    keyring,
    lockout: options.lockout ?? { maxFailures: 100, windowSeconds: 900, lockSeconds: 900 },
    loginRateLimit: options.loginRateLimit ?? { max: 10_000, windowSeconds: 60 },
    sweepIntervalSeconds: 0,
    now,
    ...(options.auditChain === undefined ? {} : { auditChain: options.auditChain }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });

  const workflow = createAccessWorkflow({
    groups: store.groups,
    access: store.access,
    users: store.users,
    vault: store.vault,
    secrets: vault,
    audit,
    logger,
    settings: DEFAULT_ACCESS_SETTINGS,
    now,
  });

  return {
    app,
    call: injectClient(app),
    keyring,
    sweep: () => workflow.sweeper.sweep(),
    close: async () => {
      await app.close();
      await keyring.close();
    },
  };
}

export const passwordFor = (username: string): string => `${username} passphrase for tests`;

/** Creates users with the given names and roles; returns their ids by name. */
export async function createUsers(
  store: Store,
  users: Record<string, Role>,
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const [username, role] of Object.entries(users)) {
    const created = await createUser(store, { username, password: passwordFor(username), role });
    ids[username] = created.id;
  }
  return ids;
}
