import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastify, { type FastifyInstance } from 'fastify';
import { Registry, Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError } from '../../src/errors.js';
import { isLoopbackAddress, loadMetricsAccess } from '../../src/observability/metrics-access.js';
import { handleError } from '../../src/server/error-handler.js';
import { registerMetricsRoute } from '../../src/server/routes/metrics.js';
import { addSharedSchemas } from '../../src/server/schemas.js';

const TOKEN = 'metrics-token-5d8e1f0a6b2c4d97';

describe('metrics access', () => {
  let directory: string;
  let tokenFile: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'strongroom-metrics-access-'));
    tokenFile = join(directory, 'metrics.token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

    const registry = new Registry();
    new Counter({ name: 'test_total', help: 'A test counter.', registers: [registry] }).inc();
    app = fastify();
    app.setErrorHandler(handleError);
    addSharedSchemas(app);
    const access = await loadMetricsAccess({ access: 'token', tokenFile });
    registerMetricsRoute(app, { registry, access });
  });

  afterAll(async () => {
    await app?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('serves metrics for the right token', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
      remoteAddress: '192.0.2.10',
    });

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('test_total 1');
  });

  it.each([
    ['no header', undefined],
    ['a wrong token', `Bearer ${TOKEN}x`],
    ['another scheme', `Basic ${TOKEN}`],
  ])('rejects %s', async (_case, authorization) => {
    const response = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: authorization === undefined ? {} : { authorization },
    });

    expect(response.statusCode).toBe(401);
    expect(response.json<{ error: { code: string } }>().error.code).toBe('SR_AUTH_REQUIRED');
    expect(response.body).not.toContain('test_total');
    expect(response.body).not.toContain(TOKEN);
  });

  it('rejects a token file that others can read', async () => {
    const open = join(directory, 'open.token');
    await writeFile(open, TOKEN);
    await chmod(open, 0o644);

    const error = await loadMetricsAccess({ access: 'token', tokenFile: open }).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_CONFIG_VALUE_INVALID')).toBe(true);
    expect((error as Error).message).toContain(`chmod 600 ${open}`);
  });

  it('rejects a short token', async () => {
    const short = join(directory, 'short.token');
    await writeFile(short, 'abc\n', { mode: 0o600 });

    const error = await loadMetricsAccess({ access: 'token', tokenFile: short }).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_CONFIG_VALUE_INVALID')).toBe(true);
    expect((error as Error).message).not.toContain('abc');
  });

  it('registers no route when off', async () => {
    const off = fastify();
    registerMetricsRoute(off, { registry: new Registry(), access: { kind: 'off' } });

    const response = await off.inject({ method: 'GET', url: '/metrics' });

    expect(response.statusCode).toBe(404);
    await off.close();
  });

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['192.0.2.10', false],
    ['::ffff:192.0.2.10', false],
    ['fe80::1', false],
    [undefined, false],
  ])('treats %s as loopback: %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });
});
