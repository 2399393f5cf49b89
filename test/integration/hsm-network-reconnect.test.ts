import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError } from '../../src/errors.js';
import { createHsmProvider } from '../../src/keys/hsm/index.js';
import type { HsmProvider } from '../../src/keys/hsm/provider.js';
import { p11KitAvailable, startP11KitServer, type P11KitServer } from '../support/p11kit-server.js';
import { generateAuditKeyDirect } from '../support/softhsm-direct.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const available = softHsmAvailable() && p11KitAvailable();
const KEY_LABEL = 'pam-master-key';

/** Runs `promise` and returns its StrongroomError code, or fails when it resolves. */
async function errorCodeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isStrongroomError(error) ? error.code : String(error);
  }
  throw new Error('expected a rejection');
}

// The provider reaches SoftHSM through p11-kit-client.so, and stopping the p11-kit server is an outage.
describe.skipIf(!available)('HSM provider through p11-kit', () => {
  let softHsm: SoftHsmFixture;
  let server: P11KitServer;

  beforeAll(async () => {
    softHsm = await createSoftHsmFixture({ tokenLabel: 'network-pam' });
    await softHsm.generateKey(KEY_LABEL);
    await softHsm.generateAuditKey(`${KEY_LABEL}-audit`);
    await generateAuditKeyDirect({
      library: softHsm.library,
      configPath: softHsm.configPath,
      tokenLabel: softHsm.tokenLabel,
      userPin: softHsm.userPin,
      keyLabel: 'cmac-audit',
      aes: true,
    });
    server = await startP11KitServer(softHsm);
    // The worker thread of each provider copies the environment when it starts.
    process.env['P11_KIT_SERVER_ADDRESS'] = server.address;
  });

  afterAll(async () => {
    delete process.env['P11_KIT_SERVER_ADDRESS'];
    await server?.cleanup();
    await softHsm?.cleanup();
  });

  async function withProvider<T>(
    body: (provider: HsmProvider, output: () => string) => Promise<T>,
  ): Promise<T> {
    const memory = createMemoryLogger();
    const provider = createHsmProvider({
      library: server.clientModule,
      slot: { by: 'tokenLabel', label: softHsm.tokenLabel },
      keyLabel: KEY_LABEL,
      pin: softHsm.userPin,
      keyWrap: 'ecb-rfc3394',
      logger: memory.logger,
    }) as HsmProvider;
    await provider.open();
    try {
      return await body(provider, memory.output);
    } finally {
      await provider.close();
    }
  }

  it('signs audit checkpoints with HMAC', async () => {
    await withProvider(async (provider) => {
      const data = Buffer.from('checkpoint 1');

      const { algorithm, mac } = await provider.signWithKey(`${KEY_LABEL}-audit`, data);
      const checked = await provider.verifyWithKey(`${KEY_LABEL}-audit`, data, mac);

      expect(algorithm).toBe('hmac-sha256');
      expect(mac).toHaveLength(32);
      expect(checked.valid).toBe(true);
    });
  });

  it('reports an AES-CMAC audit key as unusable', async () => {
    await withProvider(async (provider) => {
      const signing = provider.signWithKey('cmac-audit', Buffer.from('checkpoint 1'));

      await expect(signing).rejects.toMatchObject({ code: 'SR_AUDIT_KEY_INVALID' });
      await expect(signing).rejects.toThrow(
        "the audit checkpoint key 'cmac-audit' needs CKM_AES_CMAC, which slot ID",
      );
    });
  });

  it('answers SR_HSM_UNAVAILABLE while stopped and reconnects', async () => {
    await withProvider(async (provider, output) => {
      const aad = Buffer.from('dek:0001');
      const dek = randomBytes(32);
      const wrapped = await provider.wrap(dek, aad);

      await server.stop();
      const codeDuringOutage = await errorCodeOf(provider.unwrap(wrapped, aad));
      const statusDuringOutage = provider.status();
      await server.start();
      const unwrapped = await provider.unwrap(wrapped, aad);

      expect(codeDuringOutage).toBe('SR_HSM_UNAVAILABLE');
      expect(statusDuringOutage.ready).toBe(false);
      expect(statusDuringOutage.detail['connected']).toBe(false);
      expect(output()).toContain('"ckr":"CKR_DEVICE_ERROR"');
      expect(unwrapped.equals(dek)).toBe(true);
      expect(provider.status().ready).toBe(true);
      expect(output()).toContain('reconnected to the token');
    });
  });

  // Runs last, because it changes the token's user PIN.
  it('stops at a PIN changed during the outage', async () => {
    await withProvider(async (provider, output) => {
      const aad = Buffer.from('dek:0002');
      const wrapped = await provider.wrap(randomBytes(32), aad);

      await server.stop();
      const changed = spawnSync(
        'pkcs11-tool',
        [
          '--module',
          softHsm.library,
          '--token-label',
          softHsm.tokenLabel,
          '--login',
          '--pin',
          softHsm.userPin,
          '--change-pin',
          '--new-pin',
          'changed-pin-0042',
        ],
        { env: { ...process.env, SOFTHSM2_CONF: softHsm.configPath }, encoding: 'utf8' },
      );
      expect(changed.status, changed.stderr).toBe(0);
      await server.start();

      const first = await errorCodeOf(provider.unwrap(wrapped, aad));
      const second = await errorCodeOf(provider.unwrap(wrapped, aad));

      expect(first).toBe('SR_HSM_PIN_INCORRECT');
      expect(second).toBe('SR_HSM_PIN_INCORRECT');
      // The rejected PIN ends the reconnection at once, without another attempt.
      expect(output()).not.toMatch(/reconnecting to the token failed[^\n]*rejected the user PIN/);
      expect(output()).not.toContain(softHsm.userPin);
    });
  });
});
