import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { CheckpointWriter } from '../../src/audit/chain/checkpoints.js';
import { GENESIS_HASH } from '../../src/audit/chain/encoding.js';
import { verifyAuditChain } from '../../src/audit/chain/verify.js';
import { createAuditLog } from '../../src/audit/log.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import type { CheckpointMacKey } from '../../src/keys/mac-key.js';
import { connect } from '../../src/store/connect.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { migrations } from '../../src/store/migrations/index.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import { chainDraft } from '../support/audit-chain.js';
import { describeEachDialect } from '../support/databases.js';
import { createMemoryLogger } from '../support/softhsm.js';

/** Events each of the two stores appends at the same time. */
const PER_STORE = 40;

describeEachDialect('audit chain appends', (context) => {
  let keyDir: string;
  let key: CheckpointMacKey;

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'strongroom-audit-append-'));
    await createKeyFile(join(keyDir, 'master.key'));
    key = await openFileCheckpointKey(join(keyDir, 'master.key'));
  });

  afterAll(async () => {
    await key.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  // Two SQLite stores in one process would deadlock: better-sqlite3 waits for the other
  // connection's write lock synchronously, which blocks the event loop that would release it.
  // Separate processes on one SQLite file wait for each other through the busy timeout instead.
  it.skipIf(context.dialect === 'sqlite')('two stores append one linear chain', async () => {
    const url = await context.createDatabase();
    const first = await context.openStore({ url });
    const second = await context.openStore({ url });
    const logs = [first, second].map((store) => createAuditLog(store, context.logger));

    // Every append of both stores is in flight at once; on PostgreSQL each store has its own pool.
    await Promise.all(
      Array.from({ length: PER_STORE }, (_, index) =>
        logs.map((log, node) => log.record(chainDraft(index, { actor: `node-${node}` }))),
      ).flat(),
    );

    const events = await first.audit.listChainedEvents({ afterSeq: 0, limit: 1000 });
    expect(events.map((event) => event.seq)).toEqual(
      Array.from({ length: 2 * PER_STORE }, (_, index) => index + 1),
    );
    expect(events.filter((event) => event.actor === 'node-0')).toHaveLength(PER_STORE);
    expect(events.filter((event) => event.actor === 'node-1')).toHaveLength(PER_STORE);
    const report = await verifyAuditChain(second.audit, [key]);
    expect(report.findings).toEqual([]);
    expect(report.lastEventSeq).toBe(2 * PER_STORE);
  });

  it('concurrent appends on one store stay linear', async () => {
    const store = await context.openStore();
    const audit = createAuditLog(store, context.logger);

    await Promise.all(
      Array.from({ length: PER_STORE }, (_, index) => audit.record(chainDraft(index))),
    );

    const report = await verifyAuditChain(store.audit, [key]);
    expect(report.findings).toEqual([]);
    expect(report.lastEventSeq).toBe(PER_STORE);
  });

  it('checkpoint writer follows the event count', async () => {
    const store = await context.openStore();
    const writer = new CheckpointWriter(store.audit, key, context.logger, {
      events: 3,
      seconds: 0,
    });
    await writer.start();
    const audit = createAuditLog(store, context.logger, { checkpoints: writer });

    for (let index = 1; index <= 7; index += 1) {
      await audit.record(chainDraft(index));
    }
    await writer.stop();
    await writer.writeIfAdvanced();

    const checkpoints = await store.audit.listCheckpoints(0, 100);
    expect(checkpoints.map((checkpoint) => checkpoint.eventSeq)).toEqual([3, 6, 7]);
    const report = await verifyAuditChain(store.audit, [key]);
    expect(report.intact).toBe(true);
    expect(report.checkpointedThroughSeq).toBe(7);
  });

  it('checkpoint failure does not reject the event', async () => {
    const store = await context.openStore();
    const failingKey: CheckpointMacKey = {
      ...key,
      sign: () => Promise.reject(new Error('token removed')),
    };
    const memory = createMemoryLogger('info');
    const writer = new CheckpointWriter(store.audit, failingKey, memory.logger, {
      events: 1,
      seconds: 0,
    });
    await writer.start();
    const audit = createAuditLog(store, context.logger, { checkpoints: writer });

    await audit.record(chainDraft(1));

    expect(await store.audit.readChainHead()).toMatchObject({ seq: 1 });
    expect(await store.audit.listCheckpoints(0, 10)).toEqual([]);
    const logged = memory
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'audit checkpoint could not be written',
        keyId: key.keyId,
        err: expect.objectContaining({ message: 'token removed' }),
      }),
    ]);
  });

  it('migration chains existing events', async () => {
    const url = await context.createDatabase();
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: context.logger,
      poolSize: 2,
    });
    try {
      const before = migrations.filter((migration) => migration.name < '0004');
      await migrateToLatest(db, context.dialect, before, context.logger);
      for (const index of [1, 2, 3]) {
        await sql`insert into audit_events (occurred_at, actor, action, object_type, object_id, outcome, reason, client_address, details)
          values ('2029-12-31T00:00:0${sql.lit(index)}.000Z', 'bob', 'auth.login', 'user', 'bob', 'success', '', '::1', ${`{"attempt":${index}}`})`.execute(
          db,
        );
      }

      await migrateToLatest(db, context.dialect, migrations, context.logger);
    } finally {
      await db.destroy();
    }

    const store = await context.openStore({ url });
    await createAuditLog(store, context.logger).record(chainDraft(4));
    const events = await store.audit.listChainedEvents({ afterSeq: 0, limit: 10 });
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
    expect(events[0]!.prevHash).toBe(GENESIS_HASH);
    expect(events[3]!.prevHash).toBe(events[2]!.hash);
    const report = await verifyAuditChain(store.audit, [key]);
    expect(report.findings).toEqual([]);
    expect(report.headSeq).toBe(4);
  });
});
