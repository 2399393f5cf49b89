import { afterAll, beforeAll, expect, it } from 'vitest';

import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import { errorOf, startVaultServer, type VaultServer } from '../support/vault-server.js';

const START = new Date('2030-06-01T08:00:00.000Z');
const UNKNOWN_TOKEN = 'srt_not-a-token-that-was-issued';

describeEachDialect('application route rate limit', (context) => {
  let store: Store;
  let server: VaultServer;
  const accountId = '4a1f4a9e-8d63-4d7a-9a55-0c6f2b9e3d10';

  beforeAll(async () => {
    store = await context.openStore({ url: await context.createDatabase() });
    server = await startVaultServer(store, START, { appRateLimit: { max: 3, windowSeconds: 60 } });
  });

  afterAll(async () => {
    await server.close();
  });

  function retrieve(remoteAddress: string) {
    return server.app.inject({
      method: 'GET',
      url: `/api/v1/app/accounts/${accountId}/secret`,
      headers: { authorization: `Bearer ${UNKNOWN_TOKEN}` },
      remoteAddress,
    });
  }

  it('answers 429 before checking the token', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      statuses.push((await retrieve('127.0.0.21')).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401]);
    const headBefore = await store.audit.readChainHead();

    const limited = await retrieve('127.0.0.21');

    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(errorOf(limited).code).toBe('SR_RATE_LIMITED');
    expect(errorOf(limited).message).toMatch(
      /^Client 127\.0\.0\.21 sent more than 3 secret retrievals within the rate-limit window\. Wait \d+ (second|seconds|minute) and try again\.$/,
    );
    expect(limited.body).not.toContain(UNKNOWN_TOKEN);
    expect(await store.audit.readChainHead()).toEqual(headBefore);
  });

  it('counts client addresses separately', async () => {
    for (let attempt = 0; attempt < 4; attempt += 1) {
      await retrieve('127.0.0.22');
    }

    expect((await retrieve('127.0.0.23')).statusCode).toBe(401);
  });
});
