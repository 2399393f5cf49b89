import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import { createCheckpoint } from '../../src/audit/chain/checkpoints.js';
import { GENESIS_HASH, hashEvent } from '../../src/audit/chain/encoding.js';
import type { ChainReport } from '../../src/audit/chain/report.js';
import { verifyAuditChain } from '../../src/audit/chain/verify.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import type { CheckpointMacKey } from '../../src/keys/mac-key.js';
import type { Store } from '../../src/store/repositories.js';
import { appendEvents } from '../support/audit-chain.js';
import { describeEachDialect } from '../support/databases.js';

const EVENTS = 8;

describeEachDialect('audit chain', (context) => {
  let keyDir: string;
  let key: CheckpointMacKey;
  let store: Store;
  let url: string;

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'strongroom-audit-chain-'));
    await createKeyFile(join(keyDir, 'master.key'));
    key = await openFileCheckpointKey(join(keyDir, 'master.key'));
  });

  afterAll(async () => {
    await key.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    url = await context.createDatabase();
    store = await context.openStore({ url });
    await appendEvents(store, context.logger, EVENTS);
  });

  async function checkpointHead(): Promise<number> {
    const head = await store.audit.readChainHead();
    return store.audit.insertCheckpoint(await createCheckpoint(key, head, new Date()));
  }

  function verify(): Promise<ChainReport> {
    return verifyAuditChain(store.audit, [key]);
  }

  function sql(statement: string): Promise<Record<string, unknown>[]> {
    return context.runSql(url, statement);
  }

  it('links each event to the one before', async () => {
    const events = await store.audit.listChainedEvents({ afterSeq: 0, limit: 100 });

    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events[0]!.prevHash).toBe(GENESIS_HASH);
    for (let index = 1; index < events.length; index += 1) {
      expect(events[index]!.prevHash).toBe(events[index - 1]!.hash);
    }
    for (const event of events) {
      expect(hashEvent(event)).toBe(event.hash);
    }
    expect(await store.audit.readChainHead()).toEqual({ seq: 8, hash: events[7]!.hash });
  });

  it('stores details as canonical JSON', async () => {
    const [event] = await store.audit.listChainedEvents({ afterSeq: 0, limit: 1 });

    expect(event!.detailsJson).toBe('{"index":1,"note":"quote \\" backslash \\\\ bracket ]"}');
  });

  it('intact chain verifies', async () => {
    const checkpointId = await checkpointHead();

    const report = await verify();

    expect(report.findings).toEqual([]);
    expect(report.intact).toBe(true);
    expect(report.eventCount).toBe(EVENTS);
    expect(report.verifiedThroughSeq).toBe(EVENTS);
    expect(report.checkpointedThroughSeq).toBe(EVENTS);
    expect(report.lastCheckpoint).toMatchObject({
      id: checkpointId,
      eventSeq: EVENTS,
      provider: 'file',
      keyId: key.keyId,
      algorithm: 'hmac-sha256',
      macValid: true,
    });
  });

  it('changed event is named', async () => {
    await checkpointHead();
    await sql(`update audit_events set reason = 'nothing to see' where seq = 3`);

    const report = await verify();

    expect(report.intact).toBe(false);
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'changed', seq: 3 })]);
    expect(report.verifiedThroughSeq).toBe(2);
  });

  it('changed details are named', async () => {
    await sql(`update audit_events set details = '{"index":5,"note":"other"}' where seq = 5`);

    const report = await verify();

    expect(report.findings).toEqual([expect.objectContaining({ kind: 'changed', seq: 5 })]);
  });

  it('deleted event is named', async () => {
    await checkpointHead();
    await sql(`delete from audit_events where seq = 4`);

    const report = await verify();

    expect(report.intact).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: 'deleted',
        seq: 4,
        message: expect.stringContaining('event 4 is missing'),
      }),
    ]);
    expect(report.findings[0]!.lastSeq).toBeUndefined();
  });

  it('deleted range is named', async () => {
    await sql(`delete from audit_events where seq in (4, 5, 6)`);

    const report = await verify();

    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'deleted', seq: 4, lastSeq: 6 }),
    ]);
  });

  it('inserted event is named', async () => {
    // The forger replaces event 5 with an event that is correctly hashed and linked to event 4.
    const [fourth] = await store.audit.listChainedEvents({ afterSeq: 3, limit: 1 });
    const forged = {
      seq: 5,
      occurredAt: '2030-01-02T03:04:05.678Z',
      actor: 'mallory',
      action: 'secret.reveal',
      objectType: 'account',
      objectId: 'account-5',
      outcome: 'success',
      reason: 'routine check',
      clientAddress: '127.0.0.1',
      detailsJson: '{}',
      prevHash: fourth!.hash,
    };
    await sql(`delete from audit_events where seq = 5`);
    await sql(
      `insert into audit_events (seq, occurred_at, actor, action, object_type, object_id, outcome, reason, client_address, details, prev_hash, hash)
       values (5, '${forged.occurredAt}', 'mallory', 'secret.reveal', 'account', 'account-5', 'success', 'routine check', '127.0.0.1', '{}', '${forged.prevHash}', '${hashEvent(forged)}')`,
    );

    const report = await verify();

    expect(report.findings).toEqual([expect.objectContaining({ kind: 'inserted', seq: 5 })]);
  });

  it('event added after the head is named', async () => {
    const [last] = await store.audit.listChainedEvents({ afterSeq: 7, limit: 1 });
    const forged = {
      seq: 9,
      occurredAt: '2030-01-02T03:04:05.678Z',
      actor: 'mallory',
      action: 'auth.login',
      objectType: 'user',
      objectId: 'mallory',
      outcome: 'success',
      reason: '',
      clientAddress: '127.0.0.1',
      detailsJson: '{}',
      prevHash: last!.hash,
    };
    await sql(
      `insert into audit_events (seq, occurred_at, actor, action, object_type, object_id, outcome, reason, client_address, details, prev_hash, hash)
       values (9, '${forged.occurredAt}', 'mallory', 'auth.login', 'user', 'mallory', 'success', '', '127.0.0.1', '{}', '${forged.prevHash}', '${hashEvent(forged)}')`,
    );

    const report = await verify();

    expect(report.findings).toEqual([expect.objectContaining({ kind: 'inserted', seq: 9 })]);
  });

  it('truncated tail is named by the checkpoint', async () => {
    await checkpointHead();
    const [sixth] = await store.audit.listChainedEvents({ afterSeq: 5, limit: 1 });
    await sql(`delete from audit_events where seq > 6`);
    // The forger also rewinds the chain head row, so only the checkpoint remembers seq 8.
    await sql(`update audit_chain_head set seq = 6, hash = '${sixth!.hash}'`);

    const report = await verify();

    expect(report.intact).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: 'truncated',
        seq: 7,
        lastSeq: 8,
        message: expect.stringContaining('checkpoint'),
      }),
    ]);
  });

  it('truncated tail is named by the head row', async () => {
    await sql(`delete from audit_events where seq = 8`);

    const report = await verify();

    expect(report.findings).toEqual([expect.objectContaining({ kind: 'truncated', seq: 8 })]);
  });

  it('forged checkpoint MAC is named', async () => {
    const checkpointId = await checkpointHead();
    await sql(`update audit_checkpoints set mac = '${'ab'.repeat(32)}' where id = ${checkpointId}`);

    const report = await verify();

    expect(report.intact).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'checkpoint-forged', seq: EVENTS, checkpointId }),
    ]);
    expect(report.lastCheckpoint?.macValid).toBe(false);
  });

  it('moved checkpoint is named', async () => {
    const checkpointId = await checkpointHead();
    await sql(`update audit_checkpoints set event_seq = 12 where id = ${checkpointId}`);

    const report = await verify();

    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'checkpoint-forged', seq: 12, checkpointId }),
    ]);
  });

  it('rewritten chain is named by the checkpoint', async () => {
    await checkpointHead();
    // The forger changes event 2 and re-hashes it and every later event and the head row.
    const events = await store.audit.listChainedEvents({ afterSeq: 0, limit: 100 });
    let previous = GENESIS_HASH;
    for (const event of events) {
      const reason = event.seq === 2 ? 'rewritten' : event.reason;
      const hash = hashEvent({ ...event, reason, prevHash: previous });
      await sql(
        `update audit_events set reason = '${reason}', prev_hash = '${previous}', hash = '${hash}' where seq = ${event.seq}`,
      );
      previous = hash;
    }
    await sql(`update audit_chain_head set hash = '${previous}'`);

    const report = await verify();

    expect(report.findings).toEqual([expect.objectContaining({ kind: 'rewritten', seq: EVENTS })]);
  });

  it('checkpoint of another key is named', async () => {
    await checkpointHead();
    await sql(`update audit_checkpoints set key_id = 'other-key'`);

    const report = await verify();

    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'checkpoint-key-unavailable', seq: EVENTS }),
    ]);
  });
});
