import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError } from '../../src/errors.js';
import { createHsmProvider } from '../../src/keys/hsm/index.js';
import type { BatchResult, MasterKeyProvider, WrappedKey } from '../../src/keys/types.js';
import { buildSlowModule, compilerAvailable } from '../support/slow-module.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const available = softHsmAvailable();
const runners = [
  { runner: 'batch threads', batchProcesses: 0 },
  { runner: 'batch processes', batchProcesses: 2 },
];

function requests(count: number): Array<{ dek: Buffer; aad: Buffer }> {
  return Array.from({ length: count }, (_, index) => ({
    dek: randomBytes(32),
    aad: Buffer.from(`dek:${String(index).padStart(4, '0')}`),
  }));
}

function valuesOf<T>(results: Array<BatchResult<T>>): T[] {
  return results.map((result, index) => {
    if (!result.ok) {
      throw new Error(`item ${index} failed: ${result.error.message}`, { cause: result.error });
    }
    return result.value;
  });
}

describe.skipIf(!available).each(runners)(
  'HSM provider batches on SoftHSM, $runner',
  ({ batchProcesses }) => {
    let fixture: SoftHsmFixture;
    let provider: MasterKeyProvider;
    const memory = createMemoryLogger();

    beforeAll(async () => {
      fixture = await createSoftHsmFixture();
      await fixture.generateKey('pam-master-key');
      provider = createHsmProvider({
        library: fixture.library,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: 'pam-master-key',
        pin: fixture.userPin,
        poolSize: 3,
        batchProcesses,
        logger: memory.logger,
      });
      await provider.open();
    });

    afterAll(async () => {
      await provider?.close();
      await fixture?.cleanup();
    });

    it('wraps and unwraps 50 DEKs in order', async () => {
      const items = requests(50);

      const wrapped = valuesOf(await provider.wrapMany(items));
      const opened = valuesOf(
        await provider.unwrapMany(wrapped.map((key, index) => ({ key, aad: items[index]!.aad }))),
      );

      expect(wrapped).toHaveLength(50);
      expect(opened).toEqual(items.map((item) => item.dek));
    });

    it('reopen returns openable wrappings', async () => {
      const items = requests(300);

      const wrapped = valuesOf(await provider.wrapMany(items, { reopen: true }));
      const opened = valuesOf(
        await provider.unwrapMany(wrapped.map((key, index) => ({ key, aad: items[index]!.aad }))),
      );

      expect(opened).toEqual(items.map((item) => item.dek));
      expect(items.every((item) => item.dek.some((byte) => byte !== 0))).toBe(true);
    });

    it('batch matches single unwrap', async () => {
      const items = requests(5);

      const wrapped = valuesOf(await provider.wrapMany(items));

      for (const [index, key] of wrapped.entries()) {
        expect(await provider.unwrap(key, items[index]!.aad)).toEqual(items[index]!.dek);
      }
    });

    it('uses a fresh IV for each item', async () => {
      const dek = randomBytes(32);
      const aad = Buffer.from('dek:same');

      const wrapped = valuesOf(
        await provider.wrapMany([
          { dek, aad },
          { dek, aad },
        ]),
      );

      expect(wrapped[0]!.wrapped.subarray(0, 12)).not.toEqual(wrapped[1]!.wrapped.subarray(0, 12));
    });

    it('bad items fail alone', async () => {
      const items = requests(6);
      const wrapped = valuesOf(await provider.wrapMany(items));
      const changed = Buffer.from(wrapped[1]!.wrapped);
      changed[changed.length - 1]! ^= 0x01;
      const unknown = {
        mechanism: 'aes-256-cbc',
        wrapped: randomBytes(48),
      } as unknown as WrappedKey;

      const results = await provider.unwrapMany([
        { key: wrapped[0]!, aad: items[0]!.aad },
        { key: { ...wrapped[1]!, wrapped: changed }, aad: items[1]!.aad },
        { key: wrapped[2]!, aad: items[3]!.aad },
        { key: unknown, aad: items[3]!.aad },
        {
          key: { ...wrapped[4]!, wrapped: wrapped[4]!.wrapped.subarray(0, 10) },
          aad: items[4]!.aad,
        },
        { key: wrapped[5]!, aad: items[5]!.aad },
      ]);

      expect(results.map((result) => result.ok)).toEqual([true, false, false, false, false, true]);
      for (const result of results.filter((entry) => !entry.ok)) {
        expect(isStrongroomError(result.ok ? undefined : result.error, 'SR_DECRYPT_FAILED')).toBe(
          true,
        );
      }
      expect(results[0]).toEqual({ ok: true, value: items[0]!.dek });
      expect(results[5]).toEqual({ ok: true, value: items[5]!.dek });
    });

    it('splits 2500 items into several messages', async () => {
      const items = requests(2500);

      const wrapped = valuesOf(await provider.wrapMany(items));
      const opened = valuesOf(
        await provider.unwrapMany(wrapped.map((key, index) => ({ key, aad: items[index]!.aad }))),
      );

      expect(opened).toEqual(items.map((item) => item.dek));
    });

    it('empty batches return nothing', async () => {
      expect(await provider.wrapMany([])).toEqual([]);
      expect(await provider.unwrapMany([])).toEqual([]);
    });

    it('rejects a DEK that is not 32 bytes', async () => {
      const items = [...requests(2), { dek: randomBytes(16), aad: Buffer.from('dek:short') }];

      const error = await provider.wrapMany(items).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(RangeError);
      expect((error as RangeError).message).toBe('dek 2 of the batch must be 32 bytes, got 16');
    });

    it('batches work on after the module was finalised', async () => {
      const items = requests(30);
      const wrapped = valuesOf(await provider.wrapMany(items));

      // Finalising the module from this thread ends every session of the process, as an HSM
      // restart would, so each batch thread meets CKR_CRYPTOKI_NOT_INITIALIZED at its first item.
      const module = new pkcs11js.PKCS11();
      module.load(fixture.library);
      module.C_Finalize();

      const opened = valuesOf(
        await provider.unwrapMany(wrapped.map((key, index) => ({ key, aad: items[index]!.aad }))),
      );
      const rewrapped = valuesOf(await provider.wrapMany(items));

      expect(opened).toEqual(items.map((item) => item.dek));
      expect(rewrapped).toHaveLength(30);
      if (batchProcesses === 0) {
        expect(memory.output()).toContain('lost the connection to the token, reconnecting');
        expect(memory.output()).toContain('reconnected to the token');
      } else {
        // Each batch process has a module instance of its own, which this C_Finalize leaves alone.
        expect(memory.output()).not.toContain('lost the connection to the token');
      }
    });

    it('returned DEKs own their memory', async () => {
      const items = requests(3);
      const wrapped = valuesOf(await provider.wrapMany(items));

      const opened = valuesOf(
        await provider.unwrapMany(wrapped.map((key, index) => ({ key, aad: items[index]!.aad }))),
      );
      opened[0]!.fill(0);

      expect(opened.map((dek) => dek.buffer.byteLength)).toEqual([32, 32, 32]);
      expect(opened[1]).toEqual(items[1]!.dek);
      expect(opened[2]).toEqual(items[2]!.dek);
    });
  },
);

describe.skipIf(!available || !compilerAvailable()).each(runners)(
  'HSM provider batches on a token that decrypts to other bytes, $runner',
  ({ batchProcesses }) => {
    let fixture: SoftHsmFixture;
    let provider: MasterKeyProvider;

    beforeAll(async () => {
      fixture = await createSoftHsmFixture();
      await fixture.generateKey('pam-master-key');
      const faulty = buildSlowModule(fixture.directory);
      // The batch processes read these when they load the module, so they stay set until close.
      process.env['SLOW_PKCS11_TARGET'] = fixture.library;
      process.env['SLOW_PKCS11_DELAY_MS'] = '0';
      process.env['SLOW_PKCS11_FLIP_DECRYPT'] = '1';
      provider = createHsmProvider({
        library: faulty,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: 'pam-master-key',
        pin: fixture.userPin,
        poolSize: 2,
        batchProcesses,
        logger: createMemoryLogger().logger,
      });
      await provider.open();
    });

    afterAll(async () => {
      await provider?.close();
      delete process.env['SLOW_PKCS11_TARGET'];
      delete process.env['SLOW_PKCS11_DELAY_MS'];
      delete process.env['SLOW_PKCS11_FLIP_DECRYPT'];
      await fixture?.cleanup();
    });

    it('reopen fails mismatched items', async () => {
      const results = await provider.wrapMany(requests(40), { reopen: true });

      expect(results).toHaveLength(40);
      for (const result of results) {
        expect(result.ok).toBe(false);
        const error = result.ok ? undefined : result.error;
        expect(isStrongroomError(error, 'SR_DEK_MIGRATION_VERIFY_FAILED')).toBe(true);
        expect(error?.message).toContain('opened a new wrapping to other bytes');
      }
    });

    it('without reopen items succeed', async () => {
      const results = await provider.wrapMany(requests(40));

      expect(results.every((result) => result.ok)).toBe(true);
    });
  },
);
