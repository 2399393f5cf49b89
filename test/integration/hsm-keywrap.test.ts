import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError } from '../../src/errors.js';
import { createHsmProvider, type HsmProviderOptions } from '../../src/keys/hsm/index.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

// Each describe block makes its own SoftHSM configuration. SoftHSM reads SOFTHSM2_CONF in
// C_Initialize, and the provider finalises the module when its last user closes, so the blocks
// run one after another in this process, each against its own token.
const available = softHsmAvailable();

const variants = [
  { mechanism: 'aes-key-wrap', disabled: ['CKM_AES_GCM'], wrapOutputBytes: 40 },
  {
    mechanism: 'aes-key-wrap-pad',
    disabled: ['CKM_AES_GCM', 'CKM_AES_KEY_WRAP'],
    wrapOutputBytes: 40,
  },
] as const;

describe.skipIf(!available).each(variants)(
  'HSM provider with $mechanism ($disabled disabled)',
  ({ mechanism, disabled, wrapOutputBytes }) => {
    let fixture: SoftHsmFixture;
    const memory = createMemoryLogger();

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ disabledMechanisms: [...disabled] });
      await fixture.generateKey('pam-master-key');
    });

    afterAll(async () => {
      await fixture?.cleanup();
    });

    async function withProvider<T>(
      body: (provider: MasterKeyProvider) => Promise<T>,
      overrides: Partial<HsmProviderOptions> = {},
    ): Promise<T> {
      const provider = createHsmProvider({
        library: fixture.library,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: 'pam-master-key',
        pin: fixture.userPin,
        logger: memory.logger,
        ...overrides,
      });
      await provider.open();
      try {
        return await body(provider);
      } finally {
        await provider.close();
      }
    }

    it('wraps and unwraps a DEK', async () => {
      await withProvider(async (provider) => {
        const dek = randomBytes(32);
        const aad = Buffer.from('dek:0001');

        const wrapped = await provider.wrap(dek, aad);
        const unwrapped = await provider.unwrap(wrapped, aad);

        expect(wrapped.mechanism).toBe(mechanism);
        expect(wrapped.wrapped).toHaveLength(wrapOutputBytes + 32);
        expect(unwrapped.equals(dek)).toBe(true);
        expect(provider.status().detail['mechanism']).toBe(mechanism);
      });
    });

    it('rejects other associated data with SR_DECRYPT_FAILED', async () => {
      await withProvider(async (provider) => {
        const wrapped = await provider.wrap(randomBytes(32), Buffer.from('dek:0002'));

        const error = await provider
          .unwrap(wrapped, Buffer.from('dek:0003'))
          .catch((caught: unknown) => caught);

        expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
        expect(memory.output()).toContain('binding tag does not match the associated data');
      });
    });

    it('rejects a changed byte in the wrapped key', async () => {
      await withProvider(async (provider) => {
        const aad = Buffer.from('dek:0004');
        const wrapped = await provider.wrap(randomBytes(32), aad);
        const changed = Buffer.from(wrapped.wrapped);
        changed[5] = (changed[5] ?? 0) ^ 0x80;

        const error = await provider
          .unwrap({ mechanism: wrapped.mechanism, wrapped: changed }, aad)
          .catch((caught: unknown) => caught);

        expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
      });
    });

    it('rejects a changed binding tag', async () => {
      await withProvider(async (provider) => {
        const aad = Buffer.from('dek:0005');
        const wrapped = await provider.wrap(randomBytes(32), aad);
        const changed = Buffer.from(wrapped.wrapped);
        const last = changed.length - 1;
        changed[last] = (changed[last] ?? 0) ^ 0x01;

        const error = await provider
          .unwrap({ mechanism: wrapped.mechanism, wrapped: changed }, aad)
          .catch((caught: unknown) => caught);

        expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
      });
    });

    it('rejects a GCM record that the token cannot open', async () => {
      await withProvider(async (provider) => {
        const record = { mechanism: 'aes-256-gcm' as const, wrapped: randomBytes(60) };

        const error = await provider
          .unwrap(record, Buffer.from('dek:0006'))
          .catch((caught: unknown) => caught);

        expect(isStrongroomError(error, 'SR_HSM_MECHANISM_UNSUPPORTED')).toBe(true);
        expect((error as Error).message).toContain(
          `the DEK was wrapped with aes-256-gcm, but slot ID ${fixture.slotId} (slot index 0), token 'pam' does not offer CKM_AES_GCM`,
        );
      });
    });

    it('runs 100 wraps and unwraps in parallel and leaves no session keys', async () => {
      await withProvider(async (provider) => {
        const results = await Promise.all(
          Array.from({ length: 100 }, async (_, index) => {
            const dek = randomBytes(32);
            const aad = Buffer.from(`dek:${index}`);
            const unwrapped = await provider.unwrap(await provider.wrap(dek, aad), aad);
            return unwrapped.equals(dek);
          }),
        );

        expect(results.every(Boolean)).toBe(true);
        expect(countSessionKeys(fixture)).toBe(0);
      });
    });

    it('runs batches on the batch threads and leaves no session keys', async () => {
      await withProvider(async (provider) => {
        const items = Array.from({ length: 40 }, (_, index) => ({
          dek: randomBytes(32),
          aad: Buffer.from(`dek:${index}`),
        }));

        const wrapped = await provider.wrapMany(items);
        const opened = await provider.unwrapMany(
          wrapped.map((result, index) => {
            if (!result.ok) {
              throw result.error;
            }
            return { key: result.value, aad: items[index]!.aad };
          }),
        );

        expect(wrapped.map((result) => result.ok && result.value.mechanism)).toEqual(
          items.map(() => mechanism),
        );
        expect(opened).toEqual(items.map((item) => ({ ok: true, value: item.dek })));
        expect(countSessionKeys(fixture)).toBe(0);
      });
    });

    it('reopens batch wrappings and leaves no session keys', async () => {
      await withProvider(async (provider) => {
        const items = Array.from({ length: 40 }, (_, index) => ({
          dek: randomBytes(32),
          aad: Buffer.from(`dek:${index}`),
        }));

        const wrapped = await provider.wrapMany(items, { reopen: true });

        expect(wrapped.map((result) => result.ok && result.value.mechanism)).toEqual(
          items.map(() => mechanism),
        );
        expect(countSessionKeys(fixture)).toBe(0);
      });
    });
  },
);

/**
 * Counts the secret keys that exist as session objects. Session objects are visible to every
 * session of the process, and the login of the provider's sessions covers this one too.
 */
function countSessionKeys(fixture: SoftHsmFixture): number {
  const module = new pkcs11js.PKCS11();
  module.load(fixture.library);
  try {
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch {
    // CKR_CRYPTOKI_ALREADY_INITIALIZED: the provider's worker initialised the module.
  }

  const slot = module
    .C_GetSlotList(true)
    .find((handle) => module.C_GetTokenInfo(handle).label.trim() === fixture.tokenLabel);
  if (slot === undefined) {
    throw new Error(`token ${fixture.tokenLabel} not found`);
  }
  const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    module.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_TOKEN, value: false },
    ]);
    const found = module.C_FindObjects(session, 100);
    module.C_FindObjectsFinal(session);
    return found.length;
  } finally {
    module.C_CloseSession(session);
  }
}

describe.skipIf(!available)('HSM provider without GCM and key wrap', () => {
  let fixture: SoftHsmFixture;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture({
      disabledMechanisms: ['CKM_AES_GCM', 'CKM_AES_KEY_WRAP_PAD', 'CKM_AES_KEY_WRAP'],
    });
    await fixture.generateKey('pam-master-key');
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  it('rejects the token with SR_HSM_MECHANISM_UNSUPPORTED', async () => {
    const provider = createHsmProvider({
      library: fixture.library,
      slot: { by: 'tokenLabel', label: fixture.tokenLabel },
      keyLabel: 'pam-master-key',
      pin: fixture.userPin,
      logger: createMemoryLogger().logger,
    });

    const error = await provider.open().catch((caught: unknown) => caught);
    await provider.close();

    expect(isStrongroomError(error, 'SR_HSM_MECHANISM_UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toContain(
      `slot ID ${fixture.slotId} (slot index 0), token 'pam' offers neither CKM_AES_GCM nor AES key wrap (CKM_AES_KEY_WRAP or CKM_AES_KEY_WRAP_PAD)`,
    );
  });
});
