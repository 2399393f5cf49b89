import { join } from 'node:path';

import { expect, it } from 'vitest';

import { createCheckpoint } from '../../src/audit/chain/checkpoints.js';
import { verifyAuditChain } from '../../src/audit/chain/verify.js';
import { GENESIS_HASH, hashEvent } from '../../src/audit/chain/encoding.js';
import type { ChainReport } from '../../src/audit/chain/report.js';
import { loadConfig } from '../../src/config/load.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { openKeyring } from '../../src/keys/open-keyring.js';
import { openStore } from '../../src/store/index.js';
import { appendEvents } from '../support/audit-chain.js';
import { runCli } from '../support/cli.js';
import { describeEachDialect, silentLogger, type DialectContext } from '../support/databases.js';
import { createUsers, passwordFor, startTestNode } from '../support/service.js';

const EVENTS = 4;

/** A home made by `strongroom init`, and SQL on its database. */
interface TestHome {
  home: string;
  /** The master key file that init created. */
  firstKeyFile: string;
  sql(statement: string): Promise<Record<string, unknown>[]>;
}

async function initHome(context: DialectContext, name: string): Promise<TestHome> {
  const home = join(context.baseDir, name);
  const databaseUrl =
    context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
  const init = await runCli(['init', '--home', home, '--database-url', databaseUrl]);
  expect(init.code).toBe(0);
  const sqlUrl =
    context.dialect === 'sqlite' ? `sqlite:${join(home, 'data', 'strongroom.db')}` : databaseUrl;
  return {
    home,
    firstKeyFile: (await loadConfig(home)).keyFile,
    sql: (statement) => context.runSql(sqlUrl, statement),
  };
}

/**
 * Appends `events` audit events and a checkpoint under the home's current file key, as a service
 * would, and opens the keyring once so that the file key has its canary.
 */
async function auditUnderFileKey(home: string, events: number): Promise<void> {
  const config = await loadConfig(home);
  const logger = silentLogger();
  const store = await openStore(config.databaseUrl, { baseDir: home, logger });
  try {
    const keyring = await openKeyring(config, store.keys, logger);
    await keyring.close();
    await appendEvents(store, logger, events);
    const key = await openFileCheckpointKey(config.keyFile);
    try {
      await store.audit.insertCheckpoint(
        await createCheckpoint(key, await store.audit.readChainHead(), new Date()),
      );
    } finally {
      await key.close();
    }
  } finally {
    await store.close();
  }
}

async function renewFileKey(home: string, keyFile?: string): Promise<void> {
  const renew = await runCli([
    'dek',
    'renew',
    '--home',
    home,
    '--yes',
    '--set-provider',
    ...(keyFile === undefined ? [] : ['--key-file', keyFile]),
  ]);
  expect(renew.stderr).not.toContain('SR_');
  expect(renew.code).toBe(0);
  expect(renew.stdout).toMatch(/Audit key rollover \d+ at seq \d+: it vouches for checkpoints/);
}

async function verifyReport(
  home: string,
  extra: string[] = [],
): Promise<{ code: number | null; report: ChainReport }> {
  const result = await runCli(['audit', 'verify', '--home', home, '--json', ...extra]);
  return { code: result.code, report: JSON.parse(result.stdout) as ChainReport };
}

/** Returns a home whose file key was renewed once, with checkpoints before and after. */
async function renewedHome(context: DialectContext, name: string): Promise<TestHome> {
  const home = await initHome(context, name);
  await auditUnderFileKey(home.home, EVENTS);
  await auditUnderFileKey(home.home, 1);
  await renewFileKey(home.home);
  await auditUnderFileKey(home.home, 2);
  return home;
}

/** Recomputes every event hash and the chain head, as a writer of the database could. */
async function rehashChain(sql: TestHome['sql']): Promise<void> {
  const rows = await sql(
    'select seq, occurred_at, actor, action, object_type, object_id, outcome, reason, client_address, details from audit_events order by seq',
  );
  let previous = GENESIS_HASH;
  for (const row of rows) {
    const hash = hashEvent({
      seq: Number(row.seq),
      occurredAt: String(row.occurred_at),
      actor: String(row.actor),
      action: String(row.action),
      objectType: String(row.object_type),
      objectId: String(row.object_id),
      outcome: String(row.outcome),
      reason: String(row.reason),
      clientAddress: String(row.client_address),
      detailsJson: String(row.details),
      prevHash: previous,
    });
    await sql(
      `update audit_events set prev_hash = '${previous}', hash = '${hash}' where seq = ${Number(row.seq)}`,
    );
    previous = hash;
  }
  await sql(`update audit_chain_head set hash = '${previous}'`);
}

describeEachDialect('audit key rollover', (context) => {
  it('renew to a new key file keeps the chain intact', async () => {
    const { home, firstKeyFile } = await renewedHome(context, 'renew-file');
    const oldKey = await openFileCheckpointKey(firstKeyFile);
    await oldKey.close();

    const { code, report } = await verifyReport(home);

    expect(report.findings).toEqual([]);
    expect(report.intact).toBe(true);
    expect(code).toBe(0);
    expect(report.rollovers).toEqual([
      expect.objectContaining({
        id: 1,
        oldProvider: 'file',
        oldKeyId: oldKey.keyId,
        newProvider: 'file',
        status: 'verified',
        vouchedCheckpointId: 2,
        digestMatches: true,
      }),
    ]);
    expect(report.retiredKeys).toEqual([
      expect.objectContaining({
        provider: 'file',
        keyId: oldKey.keyId,
        checkpointCount: 2,
        firstSeq: EVENTS,
        lastSeq: EVENTS + 1,
        rolloverId: 1,
      }),
    ]);
    expect(report.lastCheckpoint).toMatchObject({ macValid: true });
    expect(report.checkpointedThroughSeq).toBe(report.lastEventSeq);
  });

  it('rollover is an audit event', async () => {
    const { home, sql } = await renewedHome(context, 'rollover-event');

    const events = await sql(
      `select seq, actor, object_type, details from audit_events where action = 'key.rollover'`,
    );
    const [rollover] = await sql('select event_seq from audit_key_rollovers');

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ object_type: 'audit_checkpoint_key' });
    expect(String(events[0]?.actor)).toMatch(/^os:/);
    expect(JSON.parse(String(events[0]?.details))).toMatchObject({ findings: 0 });
    // The rollover's MACs cover its own event.
    expect(Number(rollover?.event_seq)).toBeGreaterThanOrEqual(Number(events[0]?.seq));
    const text = await runCli(['audit', 'verify', '--home', home]);
    expect(text.stdout).toContain('Key rollover 1 at seq');
    expect(text.stdout).toContain('were sealed by the retired file key');
  });

  it('verify checks a retired key file directly', async () => {
    const { home, firstKeyFile } = await renewedHome(context, 'retired-flag');

    const { code, report } = await verifyReport(home, ['--retired-key-file', firstKeyFile]);

    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    expect(report.retiredKeys).toEqual([]);
    expect(report.rollovers).toEqual([expect.objectContaining({ status: 'verified' })]);
  });

  it('tampering before the rollover is caught', async () => {
    const { home, sql } = await renewedHome(context, 'tampered');
    await sql(`update audit_events set reason = 'changed' where seq = 2`);

    const { code, report } = await verifyReport(home);

    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'changed', seq: 2 })]);
    expect(report.verifiedThroughSeq).toBe(1);
  });

  it('a re-hashed chain before the rollover is caught', async () => {
    const { home, sql } = await renewedHome(context, 'rewritten');
    // Only the rollover is left to show the rewrite: no checkpoint covers the chain any more.
    await sql('delete from audit_checkpoints');
    await sql(`update audit_events set reason = 'changed' where seq = 2`);
    await rehashChain(sql);

    const { code, report } = await verifyReport(home);

    expect(code).toBe(1);
    const rollover = report.rollovers[0];
    expect(rollover).toMatchObject({ status: 'verified', digestMatches: false });
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'rewritten', seq: rollover?.eventSeq, rolloverId: 1 }),
    );
  });

  it('a forged rollover MAC is caught', async () => {
    const { home, sql } = await renewedHome(context, 'forged-mac');
    await sql(`update audit_key_rollovers set new_mac = '${'ab'.repeat(32)}'`);

    const { code, report } = await verifyReport(home);

    expect(code).toBe(1);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'rollover-forged', rolloverId: 1 }),
    );
    // Without a valid rollover the old key's checkpoints cannot be checked.
    expect(report.findings.filter((f) => f.kind === 'checkpoint-key-unavailable')).toHaveLength(2);
    expect(report.retiredKeys).toEqual([]);
  });

  it('a widened rollover is caught', async () => {
    const { home, sql } = await renewedHome(context, 'widened');
    await sql('update audit_key_rollovers set vouched_checkpoint_id = 3');

    const { report } = await verifyReport(home);

    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'rollover-forged', rolloverId: 1 }),
    );
  });

  it('a changed vouched checkpoint is caught', async () => {
    const { home, sql } = await renewedHome(context, 'changed-checkpoint');
    await sql(`update audit_checkpoints set created_at = '2031-01-01T00:00:00.000Z' where id = 1`);

    const { code, report } = await verifyReport(home);

    expect(code).toBe(1);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'rollover-mismatch', rolloverId: 1 }),
    );
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'checkpoint-key-unavailable', checkpointId: 1 }),
    );
  });

  it('a missing key without a rollover is reported', async () => {
    const { home, sql } = await renewedHome(context, 'no-rollover');
    await sql('delete from audit_key_rollovers');

    const { code, report } = await verifyReport(home);

    expect(code).toBe(1);
    expect(report.findings.map((finding) => finding.kind)).toEqual([
      'checkpoint-key-unavailable',
      'checkpoint-key-unavailable',
    ]);
    expect(report.rollovers).toEqual([]);
  });

  it('two renewals vouch through both rollovers', async () => {
    const { home } = await renewedHome(context, 'two-renewals');
    await renewFileKey(home, join(home, 'security', 'third.key'));
    await auditUnderFileKey(home, 1);

    const { code, report } = await verifyReport(home);

    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    expect(report.rollovers.map((rollover) => rollover.status)).toEqual(['vouched', 'verified']);
    expect(report.retiredKeys.map((retired) => retired.rolloverId)).toEqual([1, 2]);
  });

  it('rollover without keys is reported', async () => {
    const { home, sql } = await renewedHome(context, 'no-keys');
    await renewFileKey(home, join(home, 'security', 'third.key'));
    // Without the second rollover, nothing vouches for the first or checks its keys.
    await sql('delete from audit_key_rollovers where id = 2');

    const { code, report } = await verifyReport(home);

    expect(code).toBe(1);
    expect(report.rollovers).toEqual([
      expect.objectContaining({ id: 1, status: 'key-unavailable' }),
    ]);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'rollover-key-unavailable', rolloverId: 1 }),
    );
    // Two checkpoints of the first key and two of the second, one of them the first rollover's.
    expect(report.findings.filter((f) => f.kind === 'checkpoint-key-unavailable')).toHaveLength(4);
  });

  it('chain route shows the rollover', async () => {
    const { home, firstKeyFile } = await renewedHome(context, 'route');
    const config = await loadConfig(home);
    const store = await openStore(config.databaseUrl, { baseDir: home, logger: context.logger });
    const key = await openFileCheckpointKey(config.keyFile);
    const clock = { now: new Date() };
    const node = await startTestNode({
      store,
      keyFile: { path: config.keyFile, remove: async () => undefined },
      logger: context.logger,
      clock,
      auditChain: { verify: () => verifyAuditChain(store.audit, [key]) },
    });
    try {
      await createUsers(store, { auditor: 'auditor' });
      const login = await node.call('POST', '/api/v1/auth/login', {
        body: { username: 'auditor', password: passwordFor('auditor') },
      });
      expect(login.status).toBe(200);
      const token = login.json.token as string;

      const response = await node.call('GET', '/api/v1/audit/chain', { token });

      expect(response.status).toBe(200);
      const oldKey = await openFileCheckpointKey(firstKeyFile);
      await oldKey.close();
      expect(response.json).toMatchObject({
        intact: true,
        rollovers: [{ id: 1, status: 'verified', oldKeyId: oldKey.keyId, digestMatches: true }],
        retiredKeys: [{ keyId: oldKey.keyId, checkpointCount: 2, rolloverId: 1 }],
      });
    } finally {
      await node.close();
      await key.close();
      await store.close();
    }
  });
});
