import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createCheckpoint } from '../../src/audit/chain/checkpoints.js';
import type { ChainReport } from '../../src/audit/chain/report.js';
import { loadConfig } from '../../src/config/load.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { openStore, type Store } from '../../src/store/index.js';
import { appendEvents } from '../support/audit-chain.js';
import { runCli } from '../support/cli.js';
import { silentLogger } from '../support/databases.js';
import { parseRfc5424 } from '../support/rfc5424.js';

const EVENTS = 6;

describe('audit verify and export commands', () => {
  let root: string;
  let home: string;
  let store: Store;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strongroom-cli-audit-'));
    home = join(root, 'home');
    const init = await runCli(['init', '--home', home]);
    expect(init.code).toBe(0);

    const config = await loadConfig(home);
    store = await openStore(config.databaseUrl, { baseDir: home, logger: silentLogger() });
    await appendEvents(store, silentLogger(), EVENTS);
    const key = await openFileCheckpointKey(config.keyFile);
    await store.audit.insertCheckpoint(
      await createCheckpoint(key, await store.audit.readChainHead(), new Date()),
    );
    await key.close();
  });

  afterAll(async () => {
    await store?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('verify reports an intact chain', async () => {
    const result = await runCli(['audit', 'verify', '--home', home, '--json']);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as ChainReport;
    expect(report.intact).toBe(true);
    expect(report.lastEventSeq).toBe(EVENTS);
    expect(report.lastCheckpoint).toMatchObject({
      eventSeq: EVENTS,
      provider: 'file',
      macValid: true,
    });
  });

  it('export writes JSON lines to a new file', async () => {
    const output = join(root, 'events.jsonl');

    const result = await runCli([
      'audit',
      'export',
      '--home',
      home,
      '--format',
      'jsonl',
      '--output',
      output,
    ]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Exported ${EVENTS} event(s) up to seq ${EVENTS} as jsonl`);
    const lines = (await readFile(output, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(EVENTS);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ seq: 1, actor: 'alice', action: 'secret.reveal' });
    expect(first['hash']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('export writes syslog lines to a file', async () => {
    const output = join(root, 'events.syslog');

    const result = await runCli([
      'audit',
      'export',
      '--home',
      home,
      '--format',
      'syslog',
      '--output',
      output,
    ]);

    expect(result.code).toBe(0);
    const lines = (await readFile(output, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(EVENTS);
    for (const line of lines) {
      const parsed = parseRfc5424(line);
      expect(parsed.pri).toBe(10 * 8 + 5);
      expect(parsed.appName).toBe('strongroom');
    }
  });

  it('export never overwrites a file', async () => {
    const output = join(root, 'twice.jsonl');
    await runCli(['audit', 'export', '--home', home, '--format', 'jsonl', '--output', output]);

    const result = await runCli([
      'audit',
      'export',
      '--home',
      home,
      '--format',
      'jsonl',
      '--output',
      output,
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_AUDIT_EXPORT_FAILED');
    expect(result.stderr).toContain(`${output} exists already`);
  });

  it('export filters by --since', async () => {
    const output = join(root, 'later.jsonl');

    const result = await runCli([
      'audit',
      'export',
      '--home',
      home,
      '--format',
      'jsonl',
      '--output',
      output,
      '--since',
      '2030-01-03',
    ]);

    expect(result.code).toBe(0);
    expect(await readFile(output, 'utf8')).toBe('');
  });

  it('export rejects a bad --since', async () => {
    const result = await runCli([
      'audit',
      'export',
      '--home',
      home,
      '--format',
      'jsonl',
      '--output',
      join(root, 'x'),
      '--since',
      'yesterday',
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("'yesterday' is not an ISO 8601 date or time");
  });

  it('export sends octet-counted syslog to a socket', async () => {
    const path = join(root, 'syslog.sock');
    const received: Buffer[] = [];
    const server = net.createServer((socket) => socket.on('data', (chunk) => received.push(chunk)));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const closed = new Promise<void>((resolve) =>
      server.on('connection', (socket) => socket.on('close', resolve)),
    );

    let result;
    try {
      result = await runCli([
        'audit',
        'export',
        '--home',
        home,
        '--format',
        'syslog',
        '--socket',
        path,
        '--facility',
        'local4',
      ]);
      await closed;
    } finally {
      server.close();
    }

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const messages = splitOctetCounted(Buffer.concat(received));
    expect(messages).toHaveLength(EVENTS);
    messages.forEach((message, index) => {
      const parsed = parseRfc5424(message);
      expect(parsed.pri).toBe(20 * 8 + 5);
      expect(Object.fromEntries(parsed.elements[0]!.params)['seq']).toBe(String(index + 1));
    });
  });

  it('export names a socket nobody listens on', async () => {
    const path = join(root, 'nobody.sock');

    const result = await runCli([
      'audit',
      'export',
      '--home',
      home,
      '--format',
      'syslog',
      '--socket',
      path,
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_AUDIT_EXPORT_FAILED');
    expect(result.stderr).toContain(path);
  });

  it('verify exits 1 and names a deleted event', async () => {
    const config = await loadConfig(home);
    const { default: Database } = await import('better-sqlite3');
    const database = new Database(join(home, config.databaseUrl.replace(/^sqlite:/, '')));
    database.prepare('delete from audit_events where seq = 3').run();
    database.close();

    const json = await runCli(['audit', 'verify', '--home', home, '--json']);
    const text = await runCli(['audit', 'verify', '--home', home]);

    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as ChainReport;
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'deleted', seq: 3 })]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('The chain is NOT intact: 1 finding(s).');
    expect(text.stdout).toContain('seq 3: deleted: event 3 is missing between 2 and 4');
  });
});

/** Splits a stream of RFC 6587 octet-counted frames, checking each length against the bytes. */
function splitOctetCounted(bytes: Buffer): string[] {
  const messages: string[] = [];
  let position = 0;
  while (position < bytes.length) {
    const space = bytes.indexOf(0x20, position);
    const length = Number(bytes.subarray(position, space).toString('ascii'));
    expect(Number.isSafeInteger(length)).toBe(true);
    expect(length).toBeGreaterThan(0);
    messages.push(bytes.subarray(space + 1, space + 1 + length).toString('utf8'));
    position = space + 1 + length;
  }
  return messages;
}
