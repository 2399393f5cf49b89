import { beforeEach, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import type { AccountRecord, DekRecord, Store, TargetRecord } from '../../src/store/index.js';
import { describeEachDialect } from '../support/databases.js';

describeEachDialect('vault repository', (context) => {
  let store: Store;

  beforeEach(async () => {
    store = await context.openStore();
  });

  it('finds and lists targets by name', async () => {
    await store.vault.insertTarget(target('t-2', 'web-01'));
    await store.vault.insertTarget(target('t-1', 'db-01'));
    await store.vault.insertTarget(target('t-3', 'DC-01'));

    expect(await store.vault.findTarget('t-1')).toEqual(target('t-1', 'db-01'));
    expect(await store.vault.findTarget('t-404')).toBeUndefined();
    // Byte order on both dialects: upper case before lower case.
    expect((await store.vault.listTargets()).map((record) => record.name)).toEqual([
      'DC-01',
      'db-01',
      'web-01',
    ]);
  });

  it('duplicate target name is a conflict', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));

    const error = await store.vault
      .insertTarget(target('t-2', 'db-01'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      "A target named 'db-01' exists. Choose another name.",
    );
    expect((error as StrongroomError).details).toEqual({ name: 'db-01' });
  });

  it('duplicate target id is a conflict', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));

    const error = await store.vault
      .insertTarget(target('t-1', 'db-02'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe("A target with the id 't-1' exists.");
  });

  it('inserts an account with its DEK', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));
    const record = account('a-1', 't-1', 'root', 'dek-1');

    await store.vault.insertAccountWithDek(record, dek('dek-1'));

    expect(await store.vault.findAccount('a-1')).toEqual(record);
    expect(await store.keys.findDek('dek-1')).toEqual(dek('dek-1'));
    expect(await store.vault.findAccount('a-404')).toBeUndefined();
  });

  it('lists the accounts of one target', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));
    await store.vault.insertTarget(target('t-2', 'db-02'));
    await store.vault.insertAccountWithDek(account('a-1', 't-1', 'root', 'dek-1'), dek('dek-1'));
    await store.vault.insertAccountWithDek(
      account('a-2', 't-1', 'postgres', 'dek-2'),
      dek('dek-2'),
    );
    await store.vault.insertAccountWithDek(account('a-3', 't-2', 'root', 'dek-3'), dek('dek-3'));

    const listed = await store.vault.listAccounts('t-1');

    expect(listed.map((record) => record.username)).toEqual(['postgres', 'root']);
    expect(await store.vault.listAccounts('t-404')).toEqual([]);
  });

  it('same user name on another target is allowed', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));
    await store.vault.insertTarget(target('t-2', 'db-02'));
    await store.vault.insertAccountWithDek(account('a-1', 't-1', 'root', 'dek-1'), dek('dek-1'));

    await expect(
      store.vault.insertAccountWithDek(account('a-2', 't-2', 'root', 'dek-2'), dek('dek-2')),
    ).resolves.toBeUndefined();
  });

  it('duplicate account rolls back its DEK', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));
    await store.vault.insertAccountWithDek(account('a-1', 't-1', 'root', 'dek-1'), dek('dek-1'));

    const error = await store.vault
      .insertAccountWithDek(account('a-2', 't-1', 'root', 'dek-2'), dek('dek-2'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      "The target 't-1' has an account named 'root'. Choose another user name.",
    );
    expect(await store.keys.findDek('dek-2')).toBeUndefined();
    expect(await store.vault.findAccount('a-2')).toBeUndefined();
    expect(await store.keys.countDeksByKey()).toEqual([{ ref: dek('dek-1').ref, count: 1 }]);
  });

  it('missing target rolls back the DEK', async () => {
    const error = await store.vault
      .insertAccountWithDek(account('a-1', 't-404', 'root', 'dek-1'), dek('dek-1'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_NOT_FOUND')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      "No target has the id 't-404', so no account was created.",
    );
    expect(await store.keys.findDek('dek-1')).toBeUndefined();
    expect(await store.vault.findAccount('a-1')).toBeUndefined();
  });

  it('duplicate DEK id leaves no account', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));
    await store.keys.insertDek(dek('dek-1'));

    const error = await store.vault
      .insertAccountWithDek(account('a-1', 't-1', 'root', 'dek-1'), dek('dek-1'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe("A DEK with the id 'dek-1' exists.");
    expect(await store.vault.findAccount('a-1')).toBeUndefined();
  });

  it('account naming another DEK is rejected', async () => {
    await store.vault.insertTarget(target('t-1', 'db-01'));

    const error = await store.vault
      .insertAccountWithDek(account('a-1', 't-1', 'root', 'dek-9'), dek('dek-1'))
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      "account.dekId must be the id of the DEK inserted with it ('dek-1'), got 'dek-9'",
    );
    expect(await store.keys.findDek('dek-1')).toBeUndefined();
  });
});

function target(id: string, name: string): TargetRecord {
  return {
    id,
    name,
    address: '10.20.30.40',
    description: `${name} in rack 4`,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function account(id: string, targetId: string, username: string, dekId: string): AccountRecord {
  return {
    id,
    targetId,
    username,
    description: `${username} on ${targetId}`,
    dekId,
    secretCiphertext: Buffer.from(`iv-ciphertext-tag of ${id}`),
    secretVersion: 1,
    secretType: 'password',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-02T00:00:00.000Z',
    rotationRequired: false,
  };
}

function dek(id: string): DekRecord {
  return {
    id,
    ref: { provider: 'file', keyId: '9b1f0c3e5a7d2e48', kcv: 'a1b2c3' },
    mechanism: 'aes-256-gcm',
    wrapped: Buffer.from(`wrapped ${id}`),
  };
}
