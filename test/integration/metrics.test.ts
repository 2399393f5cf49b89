import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { createHsmProvider } from '../../src/keys/hsm/index.js';
import {
  createAccount,
  reveal,
  sampleValue,
  scrape,
  startMetricsHarness,
  type MetricsHarness,
} from '../support/metrics.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const hsmReady = softHsmAvailable();
const KEY_LABEL = 'metrics-master-key';
const SECRET = 'metrics-test-secret-7f3a9c';

describe.runIf(hsmReady)('metrics on SoftHSM', () => {
  let fixture: SoftHsmFixture;
  let harness: MetricsHarness;
  let logs: () => string;
  let slot: string;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture({ tokenLabel: 'metrics' });
    await fixture.generateKey(KEY_LABEL);
    const memory = createMemoryLogger('debug');
    logs = memory.output;
    const provider = createHsmProvider({
      library: fixture.library,
      slot: { by: 'tokenLabel', label: fixture.tokenLabel },
      keyLabel: KEY_LABEL,
      pin: fixture.userPin,
      logger: memory.logger,
    });
    harness = await startMetricsHarness(provider, memory.logger);
    slot = String(fixture.slotId);
  });

  afterAll(async () => {
    await harness?.close();
    await fixture?.cleanup();
  });

  it('counts unwraps and cache hits of reveals', async () => {
    const accountId = await createAccount(harness, SECRET);
    const before = await scrape(harness);
    const unwrapLabels = { provider: 'hsm', slot, operation: 'unwrap', result: 'ok' };

    expect(await reveal(harness, accountId)).toBe(200);
    expect(await reveal(harness, accountId)).toBe(200);
    const after = await scrape(harness);

    const unwraps = (text: string) =>
      sampleValue(text, 'strongroom_master_key_operations_total', unwrapLabels);
    expect(unwraps(after) - unwraps(before)).toBe(1);
    const hits = (text: string) => sampleValue(text, 'strongroom_dek_cache_hits_total');
    const misses = (text: string) => sampleValue(text, 'strongroom_dek_cache_misses_total');
    expect(hits(after) - hits(before)).toBe(1);
    expect(misses(after) - misses(before)).toBe(1);
    expect(sampleValue(after, 'strongroom_dek_cache_entries')).toBeGreaterThanOrEqual(1);
  });

  it('records latency, pool size and connection', async () => {
    const text = await scrape(harness);
    const labels = { provider: 'hsm', slot, operation: 'wrap' };

    expect(
      sampleValue(text, 'strongroom_master_key_operation_duration_seconds_count', labels),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(text, 'strongroom_master_key_operation_duration_seconds_sum', labels),
    ).toBeGreaterThan(0);
    expect(sampleValue(text, 'strongroom_hsm_session_pool_size', { slot })).toBe(4);
    expect(sampleValue(text, 'strongroom_hsm_connected', { slot })).toBe(1);
    expect(sampleValue(text, 'strongroom_master_key_provider_ready', { provider: 'hsm' })).toBe(1);
    expect(text).toContain('strongroom_event_loop_delay_max_seconds');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('writes hsm operations to the debug log', () => {
    const lines = logs()
      .split('\n')
      .filter((line) => line.includes('master key operation finished'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const unwrap = lines.find((line) => line['operation'] === 'unwrap');

    expect(unwrap).toBeDefined();
    expect(unwrap?.['level']).toBe(20);
    expect(unwrap?.['slot']).toBe(slot);
    expect(unwrap?.['result']).toBe('ok');
    expect(typeof unwrap?.['durationMs']).toBe('number');
    expect(Object.keys(unwrap ?? {}).sort()).toEqual(
      ['component', 'durationMs', 'level', 'msg', 'operation', 'pid', 'hostname', 'provider']
        .concat(['result', 'slot', 'time'])
        .sort(),
    );
  });

  it('keeps secrets, DEKs and the PIN out of metrics and logs', async () => {
    const accountId = await createAccount(harness, SECRET);
    expect(await reveal(harness, accountId)).toBe(200);
    const account = await harness.store.vault.findAccount(accountId);
    const record = await harness.store.keys.findDek(account?.dekId ?? '');
    const dek = await harness.keyring.openDek(record!);
    const text = await scrape(harness);

    for (const value of [
      SECRET,
      fixture.userPin,
      harness.token,
      harness.parties.operator,
      dek.toString('hex'),
      dek.toString('base64'),
    ]) {
      expect(text).not.toContain(value);
      expect(logs()).not.toContain(value);
    }
    dek.fill(0);
  });

  it('labels errors with the CKR after the key is deleted', async () => {
    const deleted = spawnSync(
      'pkcs11-tool',
      [
        '--module',
        fixture.library,
        '--token-label',
        fixture.tokenLabel,
        '--login',
        '--pin',
        fixture.userPin,
        '--delete-object',
        '--type',
        'secrkey',
        '--label',
        KEY_LABEL,
      ],
      { env: { ...process.env, SOFTHSM2_CONF: fixture.configPath }, encoding: 'utf8' },
    );
    expect(deleted.status, deleted.stderr).toBe(0);

    const target = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/targets',
      headers: { authorization: `Bearer ${harness.token}` },
      payload: { name: 'after-delete', address: '10.0.0.2' },
    });
    const created = await harness.app.inject({
      method: 'POST',
      url: `/api/v1/targets/${target.json<{ id: string }>().id}/accounts`,
      headers: { authorization: `Bearer ${harness.token}` },
      payload: { username: 'root', secret: SECRET },
    });
    expect(created.statusCode).toBe(503);
    const text = await scrape(harness);

    const failure = {
      provider: 'hsm',
      slot,
      operation: 'wrap',
      code: 'SR_HSM_OPERATION_FAILED',
      ckr: 'CKR_OBJECT_HANDLE_INVALID',
    };
    expect(sampleValue(text, 'strongroom_master_key_operation_errors_total', failure)).toBe(1);
    expect(
      sampleValue(text, 'strongroom_master_key_operations_total', {
        provider: 'hsm',
        operation: 'wrap',
        result: 'error',
      }),
    ).toBe(1);
    const line = logs()
      .split('\n')
      .find((entry) => entry.includes('"result":"error"'));
    expect(line).toContain('"ckr":"CKR_OBJECT_HANDLE_INVALID"');
  });
});

describe('metrics with the key file', () => {
  let directory: string;
  let harness: MetricsHarness;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'strongroom-metrics-file-'));
    const keyPath = join(directory, 'master.key');
    await createKeyFile(keyPath);
    const { logger } = createMemoryLogger('debug');
    harness = await startMetricsHarness(createFileProvider({ path: keyPath }), logger);
  });

  afterAll(async () => {
    await harness?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('counts unwraps of the file provider', async () => {
    const accountId = await createAccount(harness, SECRET);
    const labels = { provider: 'file', slot: 'none', operation: 'unwrap', result: 'ok' };
    const before = await scrape(harness);

    expect(await reveal(harness, accountId)).toBe(200);
    expect(await reveal(harness, accountId)).toBe(200);
    const after = await scrape(harness);

    const unwraps = (text: string) =>
      sampleValue(text, 'strongroom_master_key_operations_total', labels);
    expect(unwraps(after) - unwraps(before)).toBe(1);
    expect(
      sampleValue(after, 'strongroom_dek_cache_hits_total') -
        sampleValue(before, 'strongroom_dek_cache_hits_total'),
    ).toBe(1);
    expect(sampleValue(after, 'strongroom_hsm_session_pool_size')).toBe(0);
  });

  it('rejects a client that is not on loopback', async () => {
    const response = await harness.app.inject({
      method: 'GET',
      url: '/metrics',
      remoteAddress: '192.0.2.10',
    });

    expect(response.statusCode).toBe(403);
    expect(response.json<{ error: { code: string } }>().error.code).toBe('SR_FORBIDDEN');
    expect(response.body).not.toContain('strongroom_');
  });

  it('serves the Prometheus content type', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/metrics' });

    expect(response.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(response.body).toContain('# TYPE strongroom_master_key_operations_total counter');
  });
});
