import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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
/** Events that each of two processes appends one after another, interleaved with the other's. */
const PROCESS_EVENTS = 150;

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

  if (context.dialect === 'postgres') {
    it('two stores append one linear chain', async () => {
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
  }

  // Two SQLite stores in one process would deadlock: better-sqlite3 waits for the other
  // connection's write lock synchronously, which blocks the event loop that would release it.
  // The service and a CLI command are two processes on one file, which wait through the busy
  // timeout instead, so this variant appends from a child process.
  if (context.dialect === 'sqlite') {
    it('two processes append one linear chain', async () => {
      const url = await context.createDatabase();
      const store = await context.openStore({ url });
      const audit = createAuditLog(store, context.logger);

      const child = appendFromChildProcess(url, context.baseDir, PROCESS_EVENTS);
      await child.ready;
      for (let index = 0; index < PROCESS_EVENTS; index += 1) {
        await audit.record(chainDraft(index, { actor: 'parent' }));
      }
      await child.done;

      const events = await store.audit.listChainedEvents({ afterSeq: 0, limit: 1000 });
      expect(events.map((event) => event.seq)).toEqual(
        Array.from({ length: 2 * PROCESS_EVENTS }, (_, index) => index + 1),
      );
      expect(events.filter((event) => event.actor === 'parent')).toHaveLength(PROCESS_EVENTS);
      expect(events.filter((event) => event.actor === 'child')).toHaveLength(PROCESS_EVENTS);
      const report = await verifyAuditChain(store.audit, [key]);
      expect(report.findings).toEqual([]);
    });
  }

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

  it('events stop waiting for failing checkpoints', async () => {
    const store = await context.openStore();
    let signCalls = 0;
    let releaseSign: (() => void) | undefined;
    // The first attempt fails at once, as after a lost connection. The second hangs, as a
    // reconnection to an HSM that is still down does, until the test releases it. Later ones fail.
    const stalledKey: CheckpointMacKey = {
      ...key,
      sign: () => {
        signCalls += 1;
        if (signCalls !== 2) {
          return Promise.reject(new Error('CKR_DEVICE_ERROR'));
        }
        return new Promise((_, reject) => {
          releaseSign = () => reject(new Error('token still unreachable'));
        });
      },
    };
    const writer = new CheckpointWriter(store.audit, stalledKey, createMemoryLogger().logger, {
      events: 1,
      seconds: 0,
    });
    await writer.start();
    const audit = createAuditLog(store, context.logger, { checkpoints: writer });

    await audit.record(chainDraft(1));
    await audit.record(chainDraft(2));
    await audit.record(chainDraft(3));

    expect(await store.audit.readChainHead()).toMatchObject({ seq: 3 });
    expect(signCalls).toBe(2);
    expect(releaseSign).toBeDefined();
    releaseSign?.();
    await writer.stop();
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

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts a node process that opens the built store at `url` (relative to `baseDir`) and appends `count` events as the actor
 * 'child'. `ready` settles when its store is open, `done` when it has exited with code 0.
 */
function appendFromChildProcess(
  url: string,
  baseDir: string,
  count: number,
): { ready: Promise<void>; done: Promise<void> } {
  const module = (path: string) => JSON.stringify(pathToFileURL(join(REPO_ROOT, path)).href);
  const script = `
    import pino from 'pino';
    import { openStore } from ${module('dist/store/index.js')};
    import { createAuditLog } from ${module('dist/audit/log.js')};
    const logger = pino({ level: 'silent' });
    const store = await openStore(process.env.STORE_URL, { baseDir: process.env.STORE_BASE_DIR, logger });
    const audit = createAuditLog(store, logger);
    console.log('ready');
    for (let index = 0; index < ${count}; index += 1) {
      await audit.record({
        actor: 'child', action: 'secret.reveal', objectType: 'account',
        objectId: 'account-' + index, outcome: 'success', reason: 'ticket ' + index,
        clientAddress: '127.0.0.1', details: { index },
      });
    }
    await store.close();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, STORE_URL: url, STORE_BASE_DIR: baseDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        resolve();
      }
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`child process exited ${code}: ${stderr}`)),
    );
  });
  return { ready: Promise.race([ready, done]), done };
}
