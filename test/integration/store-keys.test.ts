import { beforeEach, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import type { CanaryRecord, DekRecord, Store } from '../../src/store/index.js';
import { describeEachDialect } from '../support/databases.js';

describeEachDialect('key repository', (context) => {
  let store: Store;

  beforeEach(async () => {
    store = await context.openStore();
  });

  it('finds an inserted canary', async () => {
    const canary = fileCanary();

    await store.keys.insertCanary(canary);

    expect(await store.keys.findCanary({ provider: 'file', keyId: canary.ref.keyId })).toEqual(
      canary,
    );
  });

  it('missing canary is undefined', async () => {
    await store.keys.insertCanary(fileCanary());

    expect(
      await store.keys.findCanary({ provider: 'hsm', keyId: 'f3a9c2d17e5b4a60' }),
    ).toBeUndefined();
    expect(await store.keys.findCanary({ provider: 'file', keyId: 'other' })).toBeUndefined();
  });

  it('second canary for a key is ignored', async () => {
    const first = fileCanary();
    const second = {
      ...first,
      canary: Buffer.from('another value'),
      createdAt: '2026-05-05T05:05:05.000Z',
    };

    await store.keys.insertCanary(first);
    await store.keys.insertCanary(second);

    expect(await store.keys.listCanaries()).toEqual([first]);
  });

  it('lists canaries of both providers', async () => {
    const file = fileCanary();
    const hsm = hsmCanary();

    await store.keys.insertCanary(hsm);
    await store.keys.insertCanary(file);

    expect(await store.keys.listCanaries()).toEqual([file, hsm]);
  });

  it('finds an inserted DEK', async () => {
    const record = dek('dek-1', 'file');

    await store.keys.insertDek(record);

    expect(await store.keys.findDek('dek-1')).toEqual(record);
    expect(await store.keys.findDek('dek-2')).toBeUndefined();
  });

  it('duplicate DEK id is a conflict', async () => {
    await store.keys.insertDek(dek('dek-1', 'file'));

    const error = await store.keys
      .insertDek(dek('dek-1', 'hsm'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe("A DEK with the id 'dek-1' exists.");
    expect((await store.keys.findDek('dek-1'))?.ref.provider).toBe('file');
  });

  it('counts DEKs per master key', async () => {
    await store.keys.insertDek(dek('dek-1', 'file'));
    await store.keys.insertDek(dek('dek-2', 'hsm'));
    await store.keys.insertDek(dek('dek-3', 'file'));
    await store.keys.insertDek(dek('dek-4', 'file'));

    expect(await store.keys.countDeksByKey()).toEqual([
      { ref: fileCanary().ref, count: 3 },
      { ref: hsmCanary().ref, count: 1 },
    ]);
  });

  it('counts nothing without DEKs', async () => {
    expect(await store.keys.countDeksByKey()).toEqual([]);
  });
});

function fileCanary(): CanaryRecord {
  return {
    ref: { provider: 'file', keyId: '9b1f0c3e5a7d2e48', kcv: 'a1b2c3' },
    mechanism: 'aes-256-gcm',
    canary: Buffer.from('0011223344556677889900aabbccddeeff', 'hex'),
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function hsmCanary(): CanaryRecord {
  return {
    ref: { provider: 'hsm', keyId: 'pam-master-key', kcv: 'd4e5f6' },
    mechanism: 'aes-key-wrap-pad',
    canary: Buffer.from('ffeeddccbbaa', 'hex'),
    createdAt: '2026-02-01T00:00:00.000Z',
  };
}

function dek(id: string, provider: 'file' | 'hsm'): DekRecord {
  const canary = provider === 'file' ? fileCanary() : hsmCanary();
  return {
    id,
    ref: canary.ref,
    mechanism: canary.mechanism,
    wrapped: Buffer.from(`wrapped ${id}`),
  };
}
