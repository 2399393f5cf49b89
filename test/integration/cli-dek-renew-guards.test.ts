import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { beforeAll, expect, it } from 'vitest';

import type { DekRecord } from '../../src/store/repositories.js';
import { runCli } from '../support/cli.js';
import { describeEachDialect } from '../support/databases.js';
import { initFileHome } from '../support/homes.js';
import { startOnTerminal } from '../support/terminal.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const ACCOUNTS = 3;

/** A DEK row under a key that no configuration names, as a forgotten earlier key leaves behind. */
const STRANGER: DekRecord = {
  id: '00000000-0000-0000-0000-000000000000',
  ref: { provider: 'file', keyId: '0123456789abcdef', kcv: 'abcdef' },
  mechanism: 'aes-256-gcm',
  wrapped: Buffer.from('wrapped by a key nobody has'),
};

// Each test builds on the state that the one before it left.
describeEachDialect('dek renew guards', (context) => {
  let home: string;

  beforeAll(async () => {
    const created = await initFileHome(context);
    home = created.home;

    const csv = join(context.baseDir, 'accounts.csv');
    const rows = Array.from(
      { length: ACCOUNTS },
      (_, index) => `guard-db01,10.9.1.1,user${index},password,guard-secret-${index}`,
    );
    await writeFile(
      csv,
      ['target_name,target_address,account_username,secret_type,secret', ...rows, ''].join('\n'),
    );
    const imported = await runCli(['import', csv, '--home', home, '--yes']);
    expect(imported.code, imported.stderr).toBe(0);

    const store = await created.openStore();
    await store.keys.insertDek(STRANGER);
  });

  /** Runs `dek renew --yes` to `keyFile` with `flags`. */
  function renewTo(keyFile: string, ...flags: string[]): ReturnType<typeof runCli> {
    return runCli(['dek', 'renew', '--home', home, '--key-file', keyFile, '--yes', ...flags]);
  }

  async function securityProperties(): Promise<string> {
    return readFile(join(home, 'security', 'security.properties'), 'utf8');
  }

  it('cancelled renew removes its new key file', async () => {
    const terminal = startOnTerminal([process.execPath, CLI, 'dek', 'renew', '--home', home], {});
    try {
      const created = await terminal.expect('Re-wrap the DEKs now?');
      const keyFile = /Created the new master key file (\S+)\. /.exec(created)?.[1] ?? '';
      expect(existsSync(keyFile)).toBe(true);
      terminal.type('\r');
      await terminal.expect(`Removed the new master key file ${keyFile}`);

      expect(await terminal.exited).toBe(0);
      expect(existsSync(keyFile)).toBe(false);
    } finally {
      terminal.kill();
    }
  });

  it('renew keeps settings while other keys wrap DEKs', async () => {
    const before = await securityProperties();
    const newKeyFile = join(context.baseDir, 'renewed.key');

    const result = await renewTo(newKeyFile, '--set-provider');

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`migrated  ${ACCOUNTS}\n`);
    expect(result.stdout).toContain('unknown   1 (under neither key; left untouched)');
    expect(result.stderr).toContain(
      'SR_DEK_MIGRATION_KEYS_REMAIN: 1 DEKs are under master keys other than the source and the target:',
    );
    expect(result.stderr).toContain("file key '0123456789abcdef'");
    expect(await securityProperties()).toBe(before);
    expect(existsSync(newKeyFile)).toBe(true);
  });

  it('renew from a key without DEKs is rejected', async () => {
    // The configured key now wraps no DEK: they are under renewed.key and the stranger's key.
    const before = await securityProperties();
    const newKeyFile = join(context.baseDir, 'never-used.key');

    const result = await renewTo(newKeyFile);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_DEK_RENEW_SOURCE_EMPTY: No DEK is under the source key');
    expect(result.stderr).toContain(`Removed the new master key file ${newKeyFile}`);
    expect(result.stderr).not.toContain('WARNING');
    expect(existsSync(newKeyFile)).toBe(false);
    expect(await securityProperties()).toBe(before);
  });

  it('renew from a named key file moves its DEKs', async () => {
    // As after a switch to a new key: the DEKs are under renewed.key, and the key in use is the
    // configured one, which the renewal names as its target.
    const keyFile = /^strongroom\.keyFile\s*=\s*(\S+)$/m.exec(await securityProperties())?.[1];

    const result = await runCli([
      'dek',
      'renew',
      '--home',
      home,
      '--from-key-file',
      join(context.baseDir, 'renewed.key'),
      '--key-file',
      keyFile ?? '',
      '--yes',
      '--json',
    ]);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      outcome: 'completed',
      migrated: ACCOUNTS,
      unknown: 1,
      verified: ACCOUNTS,
    });
    const status = await runCli(['dek', 'status', '--home', home, '--json']);
    const counts = (JSON.parse(status.stdout) as { counts: { count: number }[] }).counts;
    expect(counts.map((entry) => entry.count).sort()).toEqual([1, ACCOUNTS]);
  });
});
