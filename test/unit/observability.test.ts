import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initHome } from '../../src/config/init-home.js';
import { loadConfig } from '../../src/config/load.js';
import { isStrongroomError } from '../../src/errors.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { instrumentProvider, registerProviderMetrics } from '../../src/observability/index.js';
import { createMemoryLogger } from '../support/softhsm.js';
import { sampleValue } from '../support/metrics.js';

let home: string;

beforeEach(async () => {
  home = join(await mkdtemp(join(tmpdir(), 'strongroom-metrics-config-')), 'home');
  await initHome({
    home,
    databaseUrl: 'sqlite:data/strongroom.db',
    listen: '127.0.0.1:8080',
    hsm: undefined,
  });
});

afterEach(async () => {
  await rm(join(home, '..'), { recursive: true, force: true });
});

async function addServiceLines(...lines: string[]): Promise<void> {
  await appendFile(join(home, 'strongroom.properties'), `${lines.join('\n')}\n`);
}

describe('metrics settings', () => {
  it('default to loopback', async () => {
    const config = await loadConfig(home);

    expect(config.metrics).toEqual({ access: 'loopback', tokenFile: undefined });
    expect(config.warnings).toEqual([]);
  });

  it('resolve the token file in the home', async () => {
    await addServiceLines('metrics.access = token', 'metrics.tokenFile = metrics.token');

    const config = await loadConfig(home);

    expect(config.metrics).toEqual({ access: 'token', tokenFile: join(home, 'metrics.token') });
  });

  it('reject token access without a file', async () => {
    await addServiceLines('metrics.access = token');

    const error = await loadConfig(home).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFIG_KEY_MISSING')).toBe(true);
    expect((error as Error).message).toContain('metrics.tokenFile');
  });

  it('reject an unknown access value', async () => {
    await addServiceLines('metrics.access = public');

    const error = await loadConfig(home).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFIG_VALUE_INVALID')).toBe(true);
    expect((error as Error).message).toContain('loopback, token, off');
  });
});

describe('instrumented provider', () => {
  it('measures a method added to the provider', async () => {
    await createKeyFile(join(home, 'extra.key'));
    const file = createFileProvider({ path: join(home, 'extra.key') });
    // A batch method that the interface may gain later: the decorator must measure it too.
    const extended = Object.assign(file, {
      async unwrapMany(count: number): Promise<number> {
        return count;
      },
    });
    const registry = new Registry();
    const metrics = registerProviderMetrics(registry);
    const provider = instrumentProvider(
      extended,
      metrics,
      createMemoryLogger().logger,
    ) as MasterKeyProvider & typeof extended;

    await provider.open();
    expect(await provider.unwrapMany(3)).toBe(3);
    expect(provider.ref()).toEqual(file.ref());
    const text = await registry.metrics();
    await provider.close();

    const labels = { provider: 'file', slot: 'none', operation: 'unwrapMany', result: 'ok' };
    expect(sampleValue(text, 'strongroom_master_key_operations_total', labels)).toBe(1);
    expect(sampleValue(text, 'strongroom_master_key_operations_total', { operation: 'ref' })).toBe(
      0,
    );
    expect(
      sampleValue(text, 'strongroom_master_key_operations_in_flight', { provider: 'file' }),
    ).toBe(0);
  });
});
