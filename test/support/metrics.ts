import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { expect } from 'vitest';
import { createAuditLog } from '../../src/audit/log.js';
import { createUser, type Role } from '../../src/auth/users.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { createServiceMetrics, type ServiceMetrics } from '../../src/observability/index.js';
import type { MetricsAccess } from '../../src/observability/metrics-access.js';
import { buildServer } from '../../src/server/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/repositories.js';
import { createHealthService } from '../../src/vault/health.js';
import { createVaultService } from '../../src/vault/service.js';
import {
  configureTargetAccess,
  enrolAndLogin,
  grantAccess,
  injectClient,
  type ApiCall,
  type GrantParties,
} from './people.js';

/** The harness users: an administrator, an operator who reveals and an approver. */
const USERS: Record<string, Role> = { admin: 'administrator', olga: 'operator', abel: 'approver' };
const passwordOf = (username: string) => `metrics test ${username} passphrase`;

/**
 * A service built in this process on SQLite, with its metrics, the administrator's token and the
 * sessions of the access workflow users (TOTP enrolled).
 */
export interface MetricsHarness {
  app: FastifyInstance;
  store: Store;
  keyring: Keyring;
  metrics: ServiceMetrics;
  /** The administrator's session token. */
  token: string;
  call: ApiCall;
  parties: GrantParties;
  close(): Promise<void>;
}

/**
 * Builds the service around `provider` the way startService does: the provider is instrumented,
 * opened and checked with its canary, and GET /metrics is registered with `access`.
 */
export async function startMetricsHarness(
  provider: MasterKeyProvider,
  logger: Logger,
  access: MetricsAccess = { kind: 'loopback' },
): Promise<MetricsHarness> {
  const directory = await mkdtemp(join(tmpdir(), 'strongroom-metrics-'));
  const store = await openStore('sqlite:strongroom.db', { baseDir: directory, logger });
  const metrics = createServiceMetrics(logger);
  const active = metrics.instrument(provider);
  await active.open();

  const keyring = new Keyring({
    active,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(100, 60_000),
    logger,
  });
  await keyring.verifyCanaries();
  metrics.observeKeyring(keyring);

  const audit = createAuditLog(store, logger);
  const vault = createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring,
    audit,
    logger,
  });
  const health = createHealthService(keyring, store, logger);
  const app = await buildServer({
    store,
    vault,
    health,
    audit,
    keyring,
    logger,
    metrics: { registry: metrics.registry, access },
  });

  const call = injectClient(app);
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  for (const [username, role] of Object.entries(USERS)) {
    ids[username] = (
      await createUser(store, { username, password: passwordOf(username), role })
    ).id;
    tokens[username] = (
      await enrolAndLogin(call, username, passwordOf(username), new Date())
    ).token;
  }

  return {
    app,
    store,
    keyring,
    metrics,
    token: tokens['admin']!,
    call,
    parties: {
      admin: tokens['admin']!,
      operator: tokens['olga']!,
      operatorId: ids['olga']!,
      approver: tokens['abel']!,
      approverId: ids['abel']!,
    },
    close: async () => {
      await app.close();
      await keyring.close();
      metrics.stop();
      await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Creates a target and an account with `secret` through the API, and gives the operator an
 * approved grant on the account. Returns the account id.
 */
export async function createAccount(harness: MetricsHarness, secret: string): Promise<string> {
  const headers = { authorization: `Bearer ${harness.token}` };
  const target = await harness.app.inject({
    method: 'POST',
    url: '/api/v1/targets',
    headers,
    payload: { name: `db-${Math.random().toString(36).slice(2)}`, address: '10.0.0.1' },
  });
  expect(target.statusCode).toBe(201);
  const account = await harness.app.inject({
    method: 'POST',
    url: `/api/v1/targets/${target.json<{ id: string }>().id}/accounts`,
    headers,
    payload: { username: 'root', secret },
  });
  expect(account.statusCode).toBe(201);
  const accountId = account.json<{ id: string }>().id;

  await configureTargetAccess(harness.call, harness.parties, target.json<{ id: string }>().id);
  await grantAccess(harness.call, harness.parties, accountId);
  return accountId;
}

/** Reveals the secret of an account as the operator and returns the response status. */
export async function reveal(harness: MetricsHarness, accountId: string): Promise<number> {
  const response = await harness.app.inject({
    method: 'POST',
    url: `/api/v1/accounts/${accountId}/reveal`,
    headers: { authorization: `Bearer ${harness.parties.operator}` },
    payload: { reason: 'metrics test' },
  });
  return response.statusCode;
}

/** Scrapes GET /metrics from a loopback address and returns the text. */
export async function scrape(harness: MetricsHarness): Promise<string> {
  const response = await harness.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  return response.body;
}

/**
 * Returns the value of the sample `name` whose labels include `labels`, or 0 when there is none
 * (a counter that has not been incremented has no sample for its labels).
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) {
      continue;
    }
    const present = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) {
      return Number(match[4]);
    }
  }
  return 0;
}
