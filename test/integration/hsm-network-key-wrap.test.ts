import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHsmProvider, type HsmProviderOptions } from '../../src/keys/hsm/index.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { p11KitAvailable, startP11KitServer, type P11KitServer } from '../support/p11kit-server.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';
import { generateAesKeyWithUsage } from '../support/softhsm-direct.js';

const available = softHsmAvailable() && p11KitAvailable();
const KEY_LABEL = 'pam-master-key';
const ECB_WARNING = 'Strongroom computes RFC 3394 key wrap';

// One token, reached two ways: SoftHSM loaded directly (GCM disabled, so it wraps with its own
// CKM_AES_KEY_WRAP) and through p11-kit's RPC, which passes on CKM_AES_ECB but no key wrap.
describe.skipIf(!available)('key wrap over ECB through p11-kit', () => {
  let softHsm: SoftHsmFixture;
  let server: P11KitServer;

  beforeAll(async () => {
    softHsm = await createSoftHsmFixture({ disabledMechanisms: ['CKM_AES_GCM'] });
    await softHsm.generateKey(KEY_LABEL);
    server = await startP11KitServer(softHsm);
    // The worker thread of each provider copies the environment when it starts.
    process.env['P11_KIT_SERVER_ADDRESS'] = server.address;
  });

  afterAll(async () => {
    delete process.env['P11_KIT_SERVER_ADDRESS'];
    await server?.cleanup();
    await softHsm?.cleanup();
  });

  function createProvider(
    path: 'direct' | 'network',
    options: Partial<HsmProviderOptions> = {},
  ): MasterKeyProvider {
    return createHsmProvider({
      library: path === 'direct' ? softHsm.library : server.clientModule,
      slot: { by: 'tokenLabel', label: softHsm.tokenLabel },
      keyLabel: KEY_LABEL,
      pin: softHsm.userPin,
      logger: createMemoryLogger().logger,
      ...options,
    });
  }

  async function withProviders<T>(
    body: (direct: MasterKeyProvider, network: MasterKeyProvider) => Promise<T>,
  ): Promise<T> {
    const direct = createProvider('direct');
    const network = createProvider('network', { keyWrap: 'ecb-rfc3394' });
    await direct.open();
    try {
      await network.open();
      try {
        return await body(direct, network);
      } finally {
        await network.close();
      }
    } finally {
      await direct.close();
    }
  }

  it('rejects the network path without the setting', async () => {
    const network = createProvider('network');

    const opening = network.open();

    await expect(opening).rejects.toMatchObject({ code: 'SR_HSM_MECHANISM_UNSUPPORTED' });
    await expect(opening).rejects.toThrow('set strongroom.hsm.keyWrap = ecb-rfc3394');
    await network.close();
  });

  it('logs the ECB mode once when it opens', async () => {
    const memory = createMemoryLogger();
    const network = createProvider('network', { keyWrap: 'ecb-rfc3394', logger: memory.logger });

    await network.open();
    const status = network.status();
    await network.wrap(randomBytes(32), Buffer.from('dek:0001'));
    await network.close();

    expect(status.detail['mechanism']).toBe('aes-key-wrap');
    expect(status.detail['keyWrap']).toBe('ecb-rfc3394');
    expect(memory.output().split(ECB_WARNING)).toHaveLength(2);
  });

  it('uses the same master key reference on both paths', async () => {
    await withProviders(async (direct, network) => {
      expect(network.ref()).toEqual(direct.ref());
    });
  });

  it('makes the same bytes as CKM_AES_KEY_WRAP', async () => {
    await withProviders(async (direct, network) => {
      const dek = randomBytes(32);
      const aad = Buffer.from('dek:0002');

      const fromToken = await direct.wrap(dek, aad);
      const computed = await network.wrap(dek, aad);

      expect(fromToken.mechanism).toBe('aes-key-wrap');
      expect(computed.mechanism).toBe('aes-key-wrap');
      expect(computed.wrapped.toString('hex')).toBe(fromToken.wrapped.toString('hex'));
    });
  });

  it('opens records of the other path', async () => {
    await withProviders(async (direct, network) => {
      const dek = randomBytes(32);
      const aad = Buffer.from('dek:0003');

      const viaNetwork = await direct.unwrap(await network.wrap(dek, aad), aad);
      const viaDirect = await network.unwrap(await direct.wrap(dek, aad), aad);

      expect(viaNetwork.equals(dek)).toBe(true);
      expect(viaDirect.equals(dek)).toBe(true);
    });
  });

  it('wraps and unwraps batches across paths', async () => {
    await withProviders(async (direct, network) => {
      const requests = Array.from({ length: 20 }, (_, index) => ({
        dek: randomBytes(32),
        aad: Buffer.from(`dek:batch-${index}`),
      }));

      const wrapped = await network.wrapMany(requests);
      const keys = wrapped.map((result) => (result.ok ? result.value : undefined));
      const opened = await direct.unwrapMany(
        requests.map((request, index) => ({ key: keys[index]!, aad: request.aad })),
      );

      expect(keys.every((key) => key?.mechanism === 'aes-key-wrap')).toBe(true);
      expect(
        opened.map((result, index) => result.ok && result.value.equals(requests[index]!.dek)),
      ).toEqual(requests.map(() => true));
    });
  });

  it('rejects another row with SR_DECRYPT_FAILED', async () => {
    await withProviders(async (direct, network) => {
      const wrapped = await direct.wrap(randomBytes(32), Buffer.from('dek:0004'));

      await expect(network.unwrap(wrapped, Buffer.from('dek:0005'))).rejects.toMatchObject({
        code: 'SR_DECRYPT_FAILED',
      });
    });
  });

  it('ignores the setting on a token with key wrap', async () => {
    const memory = createMemoryLogger();
    const direct = createProvider('direct', { keyWrap: 'ecb-rfc3394', logger: memory.logger });

    await direct.open();
    const status = direct.status();
    await direct.close();

    expect(status.detail['keyWrap']).toBe('token');
    expect(memory.output()).toContain('strongroom.hsm.keyWrap = ecb-rfc3394 has no effect');
    expect(memory.output()).not.toContain(ECB_WARNING);
  });

  it('rejects a master key without encrypt and decrypt', async () => {
    await generateAesKeyWithUsage({
      library: softHsm.library,
      configPath: softHsm.configPath,
      tokenLabel: softHsm.tokenLabel,
      userPin: softHsm.userPin,
      keyLabel: 'wrap-only-key',
      usage: { encrypt: false, decrypt: false },
    });
    const network = createProvider('network', {
      keyWrap: 'ecb-rfc3394',
      keyLabel: 'wrap-only-key',
    });

    const opening = network.open();

    await expect(opening).rejects.toMatchObject({ code: 'SR_HSM_KEY_USAGE_MISSING' });
    await expect(opening).rejects.toThrow(
      "key 'wrap-only-key' does not allow CKA_ENCRYPT and CKA_DECRYPT, which aes-key-wrap computed over CKM_AES_ECB needs",
    );
    await network.close();
  });
});
