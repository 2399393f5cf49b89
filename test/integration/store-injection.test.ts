import { beforeAll, expect, it } from 'vitest';

import type { Store } from '../../src/store/index.js';
import { describeEachDialect } from '../support/databases.js';

/** Values that break SQL built by string concatenation, and text that is hard to store verbatim. */
const HOSTILE_VALUES = [
  "x'); DROP TABLE deks; --",
  "'; DELETE FROM users WHERE '1'='1",
  '" OR "1"="1',
  "Robert'); DROP TABLE targets;--",
  '%',
  '_',
  '%_%',
  '\\',
  "O'Brien",
  '``; select 1; ``',
  '$1',
  '?',
  ':name',
  '/* comment */',
  'line one\nline two\r\n\ttabbed',
  'naïve café – 東京 – שלום – 😀',
  'e\u0301 and \u00e9',
  '\u200b zero width',
  ' leading and trailing spaces ',
  'x'.repeat(10_000),
];

describeEachDialect('store with hostile values', (context) => {
  let store: Store;
  let url: string;

  beforeAll(async () => {
    url = await context.createDatabase();
    store = await context.openStore({ url });
  });

  it.each(HOSTILE_VALUES.map((value, index) => [index, value]))(
    'target name %d round-trips',
    async (index, value) => {
      const id = `target-${index}`;
      await store.vault.insertTarget({
        id,
        name: value,
        address: value,
        description: value,
        createdAt: value,
      });

      expect(await store.vault.findTarget(id)).toEqual({
        id,
        name: value,
        address: value,
        description: value,
        createdAt: value,
      });
    },
  );

  it.each(HOSTILE_VALUES.map((value, index) => [index, value]))(
    'user name %d round-trips',
    async (index, value) => {
      const id = `user-${index}`;
      await store.users.insertUser({
        id,
        username: value,
        passwordHash: value,
        role: value,
        disabled: false,
        createdAt: value,
      });

      expect((await store.users.findUserByName(value))?.id).toBe(id);
    },
  );

  it('wildcards match only themselves', async () => {
    expect((await store.users.findUserByName('%'))?.username).toBe('%');
    expect((await store.users.findUserByName('_'))?.username).toBe('_');
    expect(await store.users.findUserByName('%%')).toBeUndefined();
    expect(await store.users.findUserByName('a')).toBeUndefined();
  });

  it('hostile audit event round-trips', async () => {
    const details = Object.fromEntries(
      HOSTILE_VALUES.map((value, index) => [`${value}-${index}`, value]),
    );
    const input = {
      occurredAt: HOSTILE_VALUES[0] ?? '',
      actor: HOSTILE_VALUES[1] ?? '',
      action: HOSTILE_VALUES[2] ?? '',
      objectType: HOSTILE_VALUES[3] ?? '',
      objectId: HOSTILE_VALUES[4] ?? '',
      outcome: 'success' as const,
      reason: HOSTILE_VALUES[15] ?? '',
      clientAddress: HOSTILE_VALUES[5] ?? '',
      details,
    };

    const seq = await store.audit.appendEvent(input);

    expect(
      await store.audit.listEvents({ afterSeq: seq - 1, action: input.action, limit: 1 }),
    ).toEqual([{ ...input, seq }]);
  });

  it('tables are intact afterwards', async () => {
    const tables = await context.runSql(
      url,
      context.dialect === 'sqlite'
        ? `select name from sqlite_master where type = 'table'`
        : `select table_name as name from information_schema.tables where table_schema = 'public'`,
    );

    expect(tables.map((row) => String(row.name))).toEqual(
      expect.arrayContaining([
        'accounts',
        'api_sessions',
        'audit_events',
        'deks',
        'master_keys',
        'targets',
        'users',
      ]),
    );
    expect(await store.vault.listTargets()).toHaveLength(HOSTILE_VALUES.length);
    expect(await store.users.countUsers()).toBe(HOSTILE_VALUES.length);
  });

  it('timestamps round-trip verbatim', async () => {
    const stamps = [
      '2026-01-01T00:00:00.000Z',
      '1970-01-01T00:00:00.000Z',
      '2099-12-31T23:59:59.999Z',
      '2026-06-30T12:00:00Z',
    ];

    for (const [index, stamp] of stamps.entries()) {
      await store.vault.insertTarget({
        id: `time-${index}`,
        name: `time-${index}`,
        address: '',
        description: '',
        createdAt: stamp,
      });
    }

    for (const [index, stamp] of stamps.entries()) {
      expect((await store.vault.findTarget(`time-${index}`))?.createdAt).toBe(stamp);
    }
  });

  it('binary values round-trip byte for byte', async () => {
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
    const values = [
      Buffer.alloc(0),
      Buffer.alloc(1),
      everyByte,
      Buffer.concat(Array.from({ length: 256 }, () => everyByte)),
    ];
    await store.vault.insertTarget({
      id: 'bin-target',
      name: 'bin-target',
      address: '',
      description: '',
      createdAt: '',
    });

    for (const [index, value] of values.entries()) {
      await store.vault.insertAccountWithDek(
        {
          id: `bin-${index}`,
          targetId: 'bin-target',
          username: `bin-${index}`,
          description: '',
          dekId: `bin-dek-${index}`,
          secretCiphertext: value,
          secretVersion: index,
          secretType: 'password',
          createdAt: '',
          updatedAt: '',
        },
        {
          id: `bin-dek-${index}`,
          ref: { provider: 'file', keyId: 'k', kcv: '000000' },
          mechanism: 'aes-256-gcm',
          wrapped: value,
        },
      );
    }

    for (const [index, value] of values.entries()) {
      const account = await store.vault.findAccount(`bin-${index}`);
      const dek = await store.keys.findDek(`bin-dek-${index}`);
      expect(Buffer.isBuffer(account?.secretCiphertext)).toBe(true);
      expect(account?.secretCiphertext.equals(value)).toBe(true);
      expect(dek?.wrapped.equals(value)).toBe(true);
    }
  });
});
