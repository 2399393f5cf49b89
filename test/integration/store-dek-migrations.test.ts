import { sql } from 'kysely';
import pino from 'pino';
import { beforeEach, expect, it } from 'vitest';

import type { MasterKeyRef } from '../../src/keys/types.js';
import { connect } from '../../src/store/connect.js';
import { rewrapStatement } from '../../src/store/rewrap-statement.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import type {
  DekRecord,
  MigrationLockHolder,
  MigrationRunOutcome,
  MigrationRunRecord,
  Store,
} from '../../src/store/index.js';
import { describeEachDialect } from '../support/databases.js';

const FILE_KEY: MasterKeyRef = { provider: 'file', keyId: '9b1f0c3e5a7d2e48', kcv: 'a1b2c3' };
const HSM_KEY: MasterKeyRef = { provider: 'hsm', keyId: 'pam-master-key', kcv: 'd4e5f6' };
const OLD_FILE_KEY: MasterKeyRef = { provider: 'file', keyId: '9b1f0c3e5a7d2e48', kcv: '000000' };

describeEachDialect('key repository for migrations', (context) => {
  let store: Store;

  beforeEach(async () => {
    store = await context.openStore();
  });

  it('pages DEKs not under a key', async () => {
    for (const [id, ref] of [
      ['dek-5', FILE_KEY],
      ['dek-1', FILE_KEY],
      ['dek-3', HSM_KEY],
      ['dek-2', OLD_FILE_KEY],
      ['dek-4', FILE_KEY],
    ] as const) {
      await store.keys.insertDek(dek(id, ref));
    }

    const first = await store.keys.listDeksNotUnder(HSM_KEY, undefined, 2);
    const second = await store.keys.listDeksNotUnder(HSM_KEY, first.at(-1)?.id, 2);
    const third = await store.keys.listDeksNotUnder(HSM_KEY, second.at(-1)?.id, 2);

    expect(first.map((record) => record.id)).toEqual(['dek-1', 'dek-2']);
    expect(second.map((record) => record.id)).toEqual(['dek-4', 'dek-5']);
    expect(third).toEqual([]);
    expect(first[1]).toEqual(dek('dek-2', OLD_FILE_KEY));
  });

  it('key differing only in check value is not under it', async () => {
    await store.keys.insertDek(dek('dek-1', OLD_FILE_KEY));

    const notUnder = await store.keys.listDeksNotUnder(FILE_KEY, undefined, 10);
    const under = await store.keys.listDeksUnder(FILE_KEY, undefined, 10);

    expect(notUnder.map((record) => record.id)).toEqual(['dek-1']);
    expect(under).toEqual([]);
  });

  it('pages DEKs under a key', async () => {
    await store.keys.insertDek(dek('dek-1', HSM_KEY));
    await store.keys.insertDek(dek('dek-2', FILE_KEY));
    await store.keys.insertDek(dek('dek-3', HSM_KEY));

    const first = await store.keys.listDeksUnder(HSM_KEY, undefined, 1);
    const second = await store.keys.listDeksUnder(HSM_KEY, 'dek-1', 5);

    expect(first.map((record) => record.id)).toEqual(['dek-1']);
    expect(second.map((record) => record.id)).toEqual(['dek-3']);
  });

  it('paging ends while rows change key', async () => {
    for (let index = 0; index < 7; index += 1) {
      await store.keys.insertDek(dek(`dek-${index}`, FILE_KEY));
    }

    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.keys.listDeksNotUnder(HSM_KEY, after, 3);
      if (page.length === 0) {
        break;
      }
      for (const record of page) {
        seen.push(record.id);
        // Every other row moves to the target key, the rest stay, as failed rows would.
        if (seen.length % 2 === 0) {
          await store.keys.rewrapDek(record.id, FILE_KEY, rewrapped(HSM_KEY));
        }
      }
      after = page.at(-1)?.id;
    }

    expect(seen).toEqual(['dek-0', 'dek-1', 'dek-2', 'dek-3', 'dek-4', 'dek-5', 'dek-6']);
  });

  it('rewrap swaps a row under the expected key', async () => {
    await store.keys.insertDek(dek('dek-1', FILE_KEY));

    const swapped = await store.keys.rewrapDek('dek-1', FILE_KEY, rewrapped(HSM_KEY));

    expect(swapped).toBe(true);
    expect(await store.keys.findDek('dek-1')).toEqual({
      id: 'dek-1',
      ref: HSM_KEY,
      mechanism: 'aes-key-wrap-pad',
      wrapped: Buffer.from('new wrapping'),
    });
  });

  it('rewrap under another key changes nothing', async () => {
    await store.keys.insertDek(dek('dek-1', FILE_KEY));

    const cases: MasterKeyRef[] = [
      HSM_KEY,
      OLD_FILE_KEY,
      { ...FILE_KEY, keyId: 'another-key-id' },
      { ...FILE_KEY, provider: 'hsm' },
    ];
    for (const expected of cases) {
      expect(await store.keys.rewrapDek('dek-1', expected, rewrapped(HSM_KEY))).toBe(false);
    }

    expect(await store.keys.findDek('dek-1')).toEqual(dek('dek-1', FILE_KEY));
  });

  it('rewrap of a missing DEK returns false', async () => {
    expect(await store.keys.rewrapDek('missing', FILE_KEY, rewrapped(HSM_KEY))).toBe(false);
  });

  it('second rewrap of a row fails', async () => {
    await store.keys.insertDek(dek('dek-1', FILE_KEY));

    const results = await Promise.all([
      store.keys.rewrapDek('dek-1', FILE_KEY, rewrapped(HSM_KEY)),
      store.keys.rewrapDek('dek-1', FILE_KEY, rewrapped(HSM_KEY)),
    ]);

    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('page rewrap swaps rows under the expected key', async () => {
    await store.keys.insertDek(dek('dek-1', FILE_KEY));
    await store.keys.insertDek(dek('dek-2', OLD_FILE_KEY));
    await store.keys.insertDek(dek('dek-3', FILE_KEY));

    const changed = await store.keys.rewrapDeks(FILE_KEY, HSM_KEY, [
      { id: 'dek-1', mechanism: 'aes-key-wrap-pad', wrapped: Buffer.from('new dek-1') },
      { id: 'dek-2', mechanism: 'aes-key-wrap-pad', wrapped: Buffer.from('new dek-2') },
      { id: 'dek-3', mechanism: 'aes-key-wrap-pad', wrapped: Buffer.from('new dek-3') },
      { id: 'missing', mechanism: 'aes-key-wrap-pad', wrapped: Buffer.from('new missing') },
    ]);

    expect([...changed].sort()).toEqual(['dek-1', 'dek-3']);
    expect(await store.keys.findDek('dek-1')).toEqual({
      id: 'dek-1',
      ref: HSM_KEY,
      mechanism: 'aes-key-wrap-pad',
      wrapped: Buffer.from('new dek-1'),
    });
    expect(await store.keys.findDek('dek-2')).toEqual(dek('dek-2', OLD_FILE_KEY));
    expect((await store.keys.findDek('dek-3'))?.wrapped).toEqual(Buffer.from('new dek-3'));
    expect(await store.keys.findDek('missing')).toBeUndefined();
  });

  it('page rewrap of 1200 rows changes all', async () => {
    const ids = Array.from({ length: 1200 }, (_, index) => `dek-${String(index).padStart(4, '0')}`);
    for (const id of ids) {
      await store.keys.insertDek(dek(id, FILE_KEY));
    }

    // Lengths of 0 to 3 copies, so that a row cut from its neighbour's bytes shows.
    const bytesOf = (id: string, index: number) => Buffer.from(`new ${id};`.repeat(index % 4));
    const changed = await store.keys.rewrapDeks(
      FILE_KEY,
      HSM_KEY,
      ids.map((id, index) => ({ id, mechanism: 'aes-256-gcm', wrapped: bytesOf(id, index) })),
    );

    expect(changed.size).toBe(1200);
    expect(await store.keys.countDeksByKey()).toEqual([{ ref: HSM_KEY, count: 1200 }]);
    const stored = await store.keys.listDeksUnder(HSM_KEY, undefined, 2000);
    expect(stored.map((record) => record.wrapped)).toEqual(ids.map(bytesOf));
  });

  it('page rewrap of no rows changes nothing', async () => {
    await store.keys.insertDek(dek('dek-1', FILE_KEY));

    const changed = await store.keys.rewrapDeks(FILE_KEY, HSM_KEY, []);

    expect(changed.size).toBe(0);
    expect(await store.keys.findDek('dek-1')).toEqual(dek('dek-1', FILE_KEY));
  });

  it('page rewrap ids with SQL text are plain values', async () => {
    const id = "dek-1' or '1'='1";
    await store.keys.insertDek(dek(id, FILE_KEY));
    await store.keys.insertDek(dek('dek-2', FILE_KEY));

    const changed = await store.keys.rewrapDeks(FILE_KEY, HSM_KEY, [
      { id, mechanism: 'aes-256-gcm', wrapped: Buffer.from("x'); drop table deks; --") },
    ]);

    expect([...changed]).toEqual([id]);
    expect((await store.keys.findDek(id))?.wrapped).toEqual(
      Buffer.from("x'); drop table deks; --"),
    );
    expect((await store.keys.findDek('dek-2'))?.ref).toEqual(FILE_KEY);
  });

  it('SQLite pages under a key without sorting', async () => {
    if (context.dialect !== 'sqlite') {
      return;
    }
    const url = await context.createDatabase();
    await context.openStore({ url });

    const plan = await context.runSql(
      url,
      `explain query plan select * from deks where provider = 'hsm' and key_id = 'k' and kcv = 'c' and id > 'a' order by id limit 200`,
    );
    const steps = plan.map((row) => String(row.detail));

    expect(steps.join('\n')).toContain('deks_provider_key_id_kcv_id_idx');
    expect(steps.join('\n')).not.toContain('TEMP B-TREE');
  });

  it('PostgreSQL page rewrap uses the index', async () => {
    if (context.dialect !== 'postgres') {
      return;
    }
    const url = await context.createDatabase();
    await context.openStore({ url });
    const insert = (first: number, last: number) =>
      context.runSql(
        url,
        `insert into deks (id, provider, key_id, kcv, mechanism, wrapped, created_at, updated_at)
         select 'dek-' || lpad(n::text, 5, '0'), '${FILE_KEY.provider}', '${FILE_KEY.keyId}',
           '${FILE_KEY.kcv}', 'aes-256-gcm', '\\x00', 'now', 'now'
         from generate_series(${first}, ${last}) n`,
      );
    // The statistics describe 10 rows, as after a bulk import that ANALYZE has not seen yet.
    await insert(1, 10);
    await context.runSql(url, 'analyze deks');
    await insert(11, 5000);
    const page = Array.from({ length: 500 }, (_, index) => ({
      id: `dek-${String(2001 + index).padStart(5, '0')}`,
      mechanism: 'aes-256-gcm' as const,
      wrapped: Buffer.from('new'),
    }));
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: pino({ level: 'silent' }),
      poolSize: 1,
    });

    try {
      const statement = rewrapStatement('postgres', FILE_KEY, HSM_KEY, page);
      const plan = await sql<{ 'QUERY PLAN': string }>`explain ${statement}`.execute(db);
      const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');

      // A plan that reads every row under the source key for each page makes a migration
      // quadratic in the number of DEKs.
      expect(text).toMatch(/Index Scan using \w+ on deks/);
      expect(text).not.toContain('Seq Scan on deks');
    } finally {
      await db.destroy();
    }
  });

  it('ids with SQL text are plain values', async () => {
    const id = "dek-1' or '1'='1";
    await store.keys.insertDek(dek(id, FILE_KEY));
    await store.keys.insertDek(dek('dek-2', FILE_KEY));

    const swapped = await store.keys.rewrapDek(id, FILE_KEY, rewrapped(HSM_KEY));
    const page = await store.keys.listDeksNotUnder(HSM_KEY, id, 10);

    expect(swapped).toBe(true);
    expect((await store.keys.findDek('dek-2'))?.ref).toEqual(FILE_KEY);
    expect(page.map((record) => record.id)).toEqual(['dek-2']);
  });
});

describeEachDialect('DEK migration journal', (context) => {
  let store: Store;

  beforeEach(async () => {
    store = await context.openStore();
  });

  it('records and finishes a run', async () => {
    const run = runRecord('run-1', '2026-03-01T10:00:00.000Z');
    await store.dekMigrations.insertRun(run);

    await store.dekMigrations.finishRun('run-1', {
      migrated: 40,
      skipped: 2,
      unknown: 1,
      failed: 0,
      outcome: 'completed',
      finishedAt: '2026-03-01T10:05:00.000Z',
    });

    expect(await store.dekMigrations.listRuns(10)).toEqual([
      {
        ...run,
        migrated: 40,
        skipped: 2,
        unknown: 1,
        outcome: 'completed',
        finishedAt: '2026-03-01T10:05:00.000Z',
      },
    ]);
  });

  it('saves the counts of a running run', async () => {
    await store.dekMigrations.insertRun(runRecord('run-1', '2026-03-01T10:00:00.000Z'));
    await store.dekMigrations.insertRun(runRecord('run-2', '2026-03-02T10:00:00.000Z'));
    await finishWithFive(store, 'run-2', 'completed', '2026-03-02T10:05:00.000Z');
    const counts = { migrated: 300, skipped: 1, unknown: 2, failed: 3 };

    await store.dekMigrations.updateRunCounts('run-1', counts);
    await store.dekMigrations.updateRunCounts('run-2', counts);

    const [finished, running] = await store.dekMigrations.listRuns(10);
    expect(running).toMatchObject({ id: 'run-1', outcome: 'running', ...counts });
    // A finished run keeps its final counts.
    expect(finished).toMatchObject({ id: 'run-2', outcome: 'completed', migrated: 5, failed: 0 });
  });

  it('abandons only running runs', async () => {
    await store.dekMigrations.insertRun(runRecord('run-1', '2026-03-01T10:00:00.000Z'));
    await store.dekMigrations.insertRun(runRecord('run-2', '2026-03-02T10:00:00.000Z'));
    await store.dekMigrations.insertRun(runRecord('run-3', '2026-03-03T10:00:00.000Z'));
    await finishWithFive(store, 'run-3', 'interrupted', '2026-03-03T10:05:00.000Z');

    const abandoned = await store.dekMigrations.abandonRunningRuns('2026-03-04T00:00:00.000Z');

    expect(abandoned).toBe(2);
    const runs = await store.dekMigrations.listRuns(10);
    expect(runs.map((run) => [run.id, run.outcome, run.finishedAt])).toEqual([
      ['run-3', 'interrupted', '2026-03-03T10:05:00.000Z'],
      ['run-2', 'abandoned', '2026-03-04T00:00:00.000Z'],
      ['run-1', 'abandoned', '2026-03-04T00:00:00.000Z'],
    ]);
  });

  it('lists the latest runs first', async () => {
    await store.dekMigrations.insertRun(runRecord('run-1', '2026-03-01T10:00:00.000Z'));
    await store.dekMigrations.insertRun(runRecord('run-3', '2026-03-03T10:00:00.000Z'));
    await store.dekMigrations.insertRun(runRecord('run-2', '2026-03-02T10:00:00.000Z'));

    const runs = await store.dekMigrations.listRuns(2);

    expect(runs.map((run) => run.id)).toEqual(['run-3', 'run-2']);
  });

  it('is not a standby', async () => {
    expect(await store.dekMigrations.isReadOnlyStandby()).toBe(false);
  });
});

describeEachDialect('DEK migration lock', (context) => {
  it('second holder is rejected and named', async () => {
    const url = await context.createDatabase();
    const first = await context.openStore({ url });
    const second = await context.openStore({ url });

    const held = await first.dekMigrations.tryLock(holder(1001));
    const rejected = await second.dekMigrations.tryLock(holder(1002));

    expect(held.acquired).toBe(true);
    expect(rejected).toEqual({ acquired: false, holder: holder(1001) });
    if (held.acquired) {
      await held.release();
    }
  });

  it('released lock can be taken again', async () => {
    const url = await context.createDatabase();
    const first = await context.openStore({ url });
    const second = await context.openStore({ url });

    const held = await first.dekMigrations.tryLock(holder(1001));
    if (held.acquired) {
      await held.release();
    }
    const again = await second.dekMigrations.tryLock(holder(1002));

    expect(again.acquired).toBe(true);
    if (again.acquired) {
      await again.release();
    }
  });

  it('concurrent attempts give one holder', async () => {
    const url = await context.createDatabase();
    const stores = [await context.openStore({ url }), await context.openStore({ url })];

    const attempts = await Promise.all(
      stores.map((store, index) => store.dekMigrations.tryLock(holder(2000 + index))),
    );

    expect(attempts.filter((attempt) => attempt.acquired)).toHaveLength(1);
    for (const attempt of attempts) {
      if (attempt.acquired) {
        await attempt.release();
      }
    }
  });

  it('same store cannot take it twice', async () => {
    const store = await context.openStore();

    const held = await store.dekMigrations.tryLock(holder(1001));
    const again = await store.dekMigrations.tryLock(holder(1002));

    expect(held.acquired).toBe(true);
    expect(again.acquired).toBe(false);
    if (held.acquired) {
      await held.release();
    }
  });

  it('SQLite lock row outlives its store', async () => {
    if (context.dialect !== 'sqlite') {
      return;
    }
    const url = await context.createDatabase();
    const crashed = await context.openStore({ url });
    const next = await context.openStore({ url });

    await crashed.dekMigrations.tryLock(holder(1001));
    await crashed.close();
    const attempt = await next.dekMigrations.tryLock(holder(1002));

    expect(attempt).toEqual({ acquired: false, holder: holder(1001) });
    expect(await next.dekMigrations.breakLock(holder(1001))).toBe(true);
    expect((await next.dekMigrations.tryLock(holder(1002))).acquired).toBe(true);
  });

  it('break lock leaves another holder', async () => {
    const store = await context.openStore();
    const held = await store.dekMigrations.tryLock(holder(1001));

    const broken = await store.dekMigrations.breakLock(holder(1002));

    expect(broken).toBe(false);
    expect((await store.dekMigrations.tryLock(holder(1003))).acquired).toBe(false);
    if (held.acquired) {
      await held.release();
    }
  });
});

function holder(pid: number): MigrationLockHolder {
  return { host: 'vault-1.example.org', pid, startedAt: '2026-03-01T10:00:00.000Z' };
}

function dek(id: string, ref: MasterKeyRef): DekRecord {
  return { id, ref, mechanism: 'aes-256-gcm', wrapped: Buffer.from(`wrapped ${id}`) };
}

function rewrapped(ref: MasterKeyRef): {
  ref: MasterKeyRef;
  mechanism: 'aes-key-wrap-pad';
  wrapped: Buffer;
} {
  return { ref, mechanism: 'aes-key-wrap-pad', wrapped: Buffer.from('new wrapping') };
}

/** Finishes the run `id` with 5 DEKs migrated and no other rows. */
async function finishWithFive(
  store: Store,
  id: string,
  outcome: MigrationRunOutcome,
  finishedAt: string,
): Promise<void> {
  await store.dekMigrations.finishRun(id, {
    migrated: 5,
    skipped: 0,
    unknown: 0,
    failed: 0,
    outcome,
    finishedAt,
  });
}

function runRecord(id: string, startedAt: string): MigrationRunRecord {
  return {
    id,
    command: 'migrate',
    startedAt,
    finishedAt: undefined,
    source: FILE_KEY,
    target: HSM_KEY,
    dryRun: false,
    migrated: 0,
    skipped: 0,
    unknown: 0,
    failed: 0,
    outcome: 'running',
    host: 'vault-1.example.org',
    pid: 4242,
  };
}
