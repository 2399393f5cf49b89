import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError, StrongroomError } from '../../src/errors.js';
import { createHsmProvider, type HsmProviderOptions } from '../../src/keys/hsm/index.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const available = softHsmAvailable();

describe.skipIf(!available)('HSM provider on SoftHSM with AES-GCM', () => {
  let fixture: SoftHsmFixture;
  const memory = createMemoryLogger();

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey('pam-master-key');
    await fixture.generateKey('twice-labelled');
    await fixture.generateKey('twice-labelled');
    await fixture.generateKey('short-key', { bytes: 16 });
    await fixture.generateKey('extractable-key', { extractable: true });
    await fixture.generateKey('plain-key', { sensitive: false });
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  function options(overrides: Partial<HsmProviderOptions> = {}): HsmProviderOptions {
    return {
      library: fixture.library,
      slot: { by: 'tokenLabel', label: fixture.tokenLabel },
      keyLabel: 'pam-master-key',
      pin: fixture.userPin,
      logger: memory.logger,
      ...overrides,
    };
  }

  async function withProvider<T>(
    overrides: Partial<HsmProviderOptions>,
    body: (provider: MasterKeyProvider) => Promise<T>,
  ): Promise<T> {
    const provider = createHsmProvider(options(overrides));
    await provider.open();
    try {
      return await body(provider);
    } finally {
      await provider.close();
    }
  }

  async function openError(overrides: Partial<HsmProviderOptions>): Promise<StrongroomError> {
    const provider = createHsmProvider(options(overrides));
    try {
      await provider.open();
    } catch (error) {
      if (isStrongroomError(error)) {
        return error;
      }
      throw error;
    } finally {
      await provider.close();
    }
    throw new Error('open() succeeded, but an error was expected');
  }

  it('wraps and unwraps with AES-GCM', async () => {
    await withProvider({}, async (provider) => {
      const dek = randomBytes(32);
      const aad = Buffer.from('dek:0001');

      const wrapped = await provider.wrap(dek, aad);
      const unwrapped = await provider.unwrap(wrapped, aad);

      expect(wrapped.mechanism).toBe('aes-256-gcm');
      expect(wrapped.wrapped).toHaveLength(12 + 32 + 16);
      expect(wrapped.wrapped.includes(dek)).toBe(false);
      expect(unwrapped.equals(dek)).toBe(true);
    });
  });

  it('returns buffers that own their memory', async () => {
    await withProvider({}, async (provider) => {
      // A small Buffer passed between threads by cloning would bring Node's shared 8 KiB pool
      // along, with whatever else is in it. Exact-size backing memory shows it was transferred.
      const aad = Buffer.from('dek:0013');
      const wrapped = await provider.wrap(randomBytes(32), aad);
      const unwrapped = await provider.unwrap(wrapped, aad);

      expect(wrapped.wrapped.buffer.byteLength).toBe(wrapped.wrapped.length);
      expect(unwrapped.buffer.byteLength).toBe(32);
    });
  });

  it('uses a fresh IV for each wrap', async () => {
    await withProvider({}, async (provider) => {
      const dek = randomBytes(32);
      const aad = Buffer.from('dek:0002');

      const first = await provider.wrap(dek, aad);
      const second = await provider.wrap(dek, aad);

      expect(first.wrapped.subarray(0, 12).equals(second.wrapped.subarray(0, 12))).toBe(false);
      expect(first.wrapped.equals(second.wrapped)).toBe(false);
    });
  });

  it('reports the key reference with its check value', async () => {
    const first = await withProvider({}, async (provider) => provider.ref());
    const second = await withProvider(
      { slot: { by: 'id', id: fixture.slotId } },
      async (provider) => provider.ref(),
    );

    expect(first.provider).toBe('hsm');
    expect(first.keyId).toBe('pam-master-key');
    expect(first.kcv).toMatch(/^[0-9a-f]{6}$/);
    expect(second).toEqual(first);
  });

  it('rejects other associated data with SR_DECRYPT_FAILED', async () => {
    await withProvider({}, async (provider) => {
      const wrapped = await provider.wrap(randomBytes(32), Buffer.from('dek:0003'));

      const error = await provider
        .unwrap(wrapped, Buffer.from('dek:0004'))
        .catch((caught: unknown) => caught);

      expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
      expect((error as Error).message).toBe(
        'the wrapped DEK could not be unwrapped: the master key is wrong or the stored record was changed.',
      );
      expect(memory.output()).toContain('"reason":"CKR_GENERAL_ERROR"');
    });
  });

  it('rejects a changed byte with SR_DECRYPT_FAILED', async () => {
    await withProvider({}, async (provider) => {
      const aad = Buffer.from('dek:0005');
      const wrapped = await provider.wrap(randomBytes(32), aad);
      const changed = Buffer.from(wrapped.wrapped);
      changed[20] = (changed[20] ?? 0) ^ 0x01;

      const error = await provider
        .unwrap({ mechanism: wrapped.mechanism, wrapped: changed }, aad)
        .catch((caught: unknown) => caught);

      expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
    });
  });

  it('rejects a truncated record with SR_DECRYPT_FAILED', async () => {
    await withProvider({}, async (provider) => {
      const error = await provider
        .unwrap({ mechanism: 'aes-256-gcm', wrapped: randomBytes(20) }, Buffer.from('dek:0006'))
        .catch((caught: unknown) => caught);

      expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
    });
  });

  it('rejects a DEK that is not 32 bytes', async () => {
    await withProvider({}, async (provider) => {
      await expect(provider.wrap(randomBytes(16), Buffer.from('dek:0007'))).rejects.toThrow(
        'dek must be 32 bytes, got 16',
      );
    });
  });

  it('runs 200 wraps and unwraps in parallel through a pool of 4', async () => {
    await withProvider({ poolSize: 4 }, async (provider) => {
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, index) => {
          const dek = randomBytes(32);
          const aad = Buffer.from(`dek:${index}`);
          const wrapped = await provider.wrap(dek, aad);
          const unwrapped = await provider.unwrap(wrapped, aad);
          return unwrapped.equals(dek);
        }),
      );

      expect(results).toHaveLength(200);
      expect(results.every(Boolean)).toBe(true);
    });
  });

  it('reports its status without key material', async () => {
    await withProvider({ poolSize: 3 }, async (provider) => {
      const status = provider.status();

      expect(status.kind).toBe('hsm');
      expect(status.ready).toBe(true);
      expect(status.keyId).toBe('pam-master-key');
      expect(status.detail['keyLabel']).toBe('pam-master-key');
      expect(status.detail['tokenLabel']).toBe(fixture.tokenLabel);
      expect(status.detail['slotId']).toBe(fixture.slotId);
      expect(status.detail['slotDescription']).toMatch(/^SoftHSM slot ID 0x/);
      expect(status.detail['mechanism']).toBe('aes-256-gcm');
      expect(status.detail['poolSize']).toBe(3);
      expect(JSON.stringify(status)).not.toContain(fixture.userPin);
    });
  });

  it('refuses calls after close', async () => {
    const provider = createHsmProvider(options());
    await provider.open();
    await provider.close();

    expect(provider.status().ready).toBe(false);
    await expect(provider.wrap(randomBytes(32), Buffer.from('dek:0008'))).rejects.toMatchObject({
      code: 'SR_KEY_PROVIDER_UNAVAILABLE',
    });
  });

  it('reconnects after the module was finalised', async () => {
    await withProvider({}, async (provider) => {
      const aad = Buffer.from('dek:0009');
      const wrapped = await provider.wrap(randomBytes(32), aad);

      // Finalising the module from this thread ends every session of the process, as an HSM
      // restart would: the next call meets CKR_CRYPTOKI_NOT_INITIALIZED.
      const module = new pkcs11js.PKCS11();
      module.load(fixture.library);
      module.C_Finalize();

      const unwrapped = await provider.unwrap(wrapped, aad);

      expect(unwrapped).toHaveLength(32);
      expect(provider.status().ready).toBe(true);
      expect(memory.output()).toContain('lost the connection to the token, reconnecting');
      expect(memory.output()).toContain('reconnected to the token');
    });
  });

  describe('refusals', () => {
    const cases: Array<{
      name: string;
      overrides: () => Partial<HsmProviderOptions>;
      code: string;
      message: () => string;
    }> = [
      {
        name: 'two keys with one label',
        overrides: () => ({ keyLabel: 'twice-labelled' }),
        code: 'SR_HSM_KEY_AMBIGUOUS',
        message: () => "2 secret keys are labelled 'twice-labelled'",
      },
      {
        name: 'AES-128 key',
        overrides: () => ({ keyLabel: 'short-key' }),
        code: 'SR_HSM_KEY_WRONG_LENGTH',
        message: () => "key 'short-key' is AES-128, expected AES-256",
      },
      {
        name: 'extractable key',
        overrides: () => ({ keyLabel: 'extractable-key' }),
        code: 'SR_HSM_KEY_EXTRACTABLE',
        message: () => "key 'extractable-key' is extractable",
      },
      {
        name: 'key not sensitive',
        overrides: () => ({ keyLabel: 'plain-key' }),
        code: 'SR_HSM_KEY_NOT_SENSITIVE',
        message: () => "key 'plain-key' is not sensitive",
      },
      {
        name: 'key not found',
        overrides: () => ({ keyLabel: 'no-such-key' }),
        code: 'SR_HSM_KEY_NOT_FOUND',
        message: () => "no secret key is labelled 'no-such-key'",
      },
      {
        name: 'alias with trailing blank',
        overrides: () => ({ keyLabel: 'pam-master-key ' }),
        code: 'SR_HSM_KEY_ALIAS_BLANK',
        message: () =>
          "no secret key is labelled 'pam-master-key ', and the label starts or ends with a blank",
      },
      {
        name: 'slot ID that does not exist',
        overrides: () => ({ slot: { by: 'id', id: 0 } }),
        code: 'SR_HSM_SLOT_NOT_FOUND',
        message: () =>
          `slot 0 does not exist; the token 'pam' is at slot index 0, slot ID ${fixture.slotId}`,
      },
      {
        name: 'slot index that does not exist',
        overrides: () => ({ slot: { by: 'index', index: 7 } }),
        code: 'SR_HSM_SLOT_NOT_FOUND',
        message: () =>
          `slot index 7 does not exist, because the module has 2 slots; the token 'pam' is at slot index 0, slot ID ${fixture.slotId}`,
      },
      {
        name: 'token label not found',
        overrides: () => ({ slot: { by: 'tokenLabel', label: 'vault' } }),
        code: 'SR_HSM_TOKEN_NOT_FOUND',
        message: () =>
          `no token is labelled 'vault'; the token 'pam' is at slot index 0, slot ID ${fixture.slotId}`,
      },
      {
        name: 'token not initialised',
        overrides: () => ({ slot: { by: 'id', id: fixture.uninitializedSlotId() } }),
        code: 'SR_HSM_TOKEN_NOT_INITIALIZED',
        message: () =>
          `the token in slot ID ${fixture.uninitializedSlotId()} (slot index 1) is not initialised`,
      },
      {
        name: 'library path missing',
        overrides: () => ({ library: '/opt/missing/libpkcs11.so' }),
        code: 'SR_HSM_LIBRARY_LOAD_FAILED',
        message: () => 'PKCS#11 library /opt/missing/libpkcs11.so does not exist',
      },
      {
        name: 'library path relative',
        overrides: () => ({ library: 'libsofthsm2.so' }),
        code: 'SR_HSM_LIBRARY_LOAD_FAILED',
        message: () => "PKCS#11 library path 'libsofthsm2.so' is not absolute",
      },
      {
        name: 'wrong PIN',
        overrides: () => ({ pin: 'wrong-pin-9999' }),
        code: 'SR_HSM_PIN_INCORRECT',
        message: () => "the token 'pam' rejected the user PIN (CKR_PIN_INCORRECT)",
      },
      {
        name: 'empty PIN',
        overrides: () => ({ pin: '' }),
        code: 'SR_HSM_PIN_MISSING',
        message: () => "no user PIN was supplied for the token 'pam'",
      },
    ];

    for (const testCase of cases) {
      it(`rejects ${testCase.name}`, async () => {
        const error = await openError(testCase.overrides());

        expect(error.code).toBe(testCase.code);
        expect(error.message).toContain(testCase.message());
      });
    }
  });

  it('rejects a record wrapped with an unknown mechanism', async () => {
    await withProvider({}, async (provider) => {
      const record = {
        mechanism: 'aes-256-cbc',
        wrapped: randomBytes(48),
      } as unknown as Parameters<MasterKeyProvider['unwrap']>[0];

      const error = await provider
        .unwrap(record, Buffer.from('dek:0010'))
        .catch((caught: unknown) => caught);

      expect(isStrongroomError(error, 'SR_DECRYPT_FAILED')).toBe(true);
    });
  });

  it('never writes the PIN to the log', async () => {
    const run = createMemoryLogger('debug');
    const wrongPin = 'wrong-pin-5555';

    await withProvider({ logger: run.logger }, async (provider) => {
      const aad = Buffer.from('dek:0011');
      const wrapped = await provider.wrap(randomBytes(32), aad);
      await provider.unwrap(wrapped, aad);
      await provider.unwrap(wrapped, Buffer.from('dek:0012')).catch(() => undefined);
      provider.status();
    });
    const error = await openError({ logger: run.logger, pin: wrongPin });

    expect(run.output()).toContain('hsm master key opened');
    expect(run.output()).not.toContain(fixture.userPin);
    expect(run.output()).not.toContain(wrongPin);
    expect(error.message).not.toContain(wrongPin);
    expect(JSON.stringify(error.details)).not.toContain(wrongPin);
    expect(memory.output()).not.toContain(fixture.userPin);
  });
});
