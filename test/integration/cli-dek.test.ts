import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { freePort, runCli, startServe } from '../support/cli.js';
import { KEYS, startOnTerminal } from '../support/terminal.js';
import { describeEachDialect } from '../support/databases.js';
import { hsmEnvironment, initHomeBesideHsm } from '../support/homes.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';
import {
  addWorkflowUsers,
  grantRevealAccess,
  startWorkflowSessions,
  workflowPasswords,
} from '../support/workflow-people.js';

/** The built command, for runs on a terminal or with streams of their own. */
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const KEY_LABEL = 'pam-master-key';
const RENEWED_LABEL = 'pam-master-key-2027';
const PASSWORDS = workflowPasswords();
const ACCOUNTS = 6;
/** One DEK per account secret and one per TOTP secret of the three workflow users. */
const DEKS = ACCOUNTS + 3;

describe.runIf(softHsmAvailable())('dek commands', () => {
  describeEachDialect('dek migrate', (context) => {
    let fixture: SoftHsmFixture;
    let home: string;
    let baseUrl: string;
    let env: NodeJS.ProcessEnv;
    const secrets = new Map<string, string>();
    let operatorToken: string;

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: `dek-${context.dialect}` });
      await fixture.generateKey(KEY_LABEL);
      await fixture.generateKey(RENEWED_LABEL);
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
      await fixture.generateAuditKey(`${RENEWED_LABEL}-audit`);
      home = join(context.baseDir, 'home');
      const databaseUrl =
        context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      env = await hsmEnvironment(context.baseDir, fixture);
      await initHomeBesideHsm({ home, databaseUrl, port, fixture, keyLabel: KEY_LABEL });
      await addWorkflowUsers(home, PASSWORDS);

      const service = await startServe(home, baseUrl, env);
      try {
        const sessions = await startWorkflowSessions(baseUrl, PASSWORDS);
        const admin = { baseUrl, token: sessions.parties.admin };
        operatorToken = sessions.parties.operator;
        const target = await api(admin, 'POST', '/api/v1/targets', {
          name: 'db01',
          address: 'db01.example.internal',
        });
        for (let index = 0; index < ACCOUNTS; index += 1) {
          const secret = `root-${randomBytes(12).toString('hex')}`;
          const account = await api(admin, 'POST', `/api/v1/targets/${target.id}/accounts`, {
            username: `user${index}`,
            secret,
          });
          secrets.set(String(account.id), secret);
        }
        await grantRevealAccess(sessions, String(target.id), secrets.keys());
      } finally {
        await service.stop();
      }
    });

    /** Runs `body` against a fresh service process as the operator, whose session persists. */
    async function withService(body: (session: Session) => Promise<void>): Promise<void> {
      const service = await startServe(home, baseUrl, env);
      try {
        await body({ baseUrl, token: operatorToken });
      } finally {
        await service.stop();
      }
    }

    async function expectSecretsReveal(): Promise<void> {
      await withService(async (session) => {
        for (const [id, secret] of secrets) {
          const reveal = await api(session, 'POST', `/api/v1/accounts/${id}/reveal`, {
            reason: 'check after migration',
          });
          expect(reveal.secret).toBe(secret);
        }
      });
    }

    async function property(key: string): Promise<string | undefined> {
      const text = await readFile(join(home, 'security', 'security.properties'), 'utf8');
      return new RegExp(`^${key.replace(/\./g, '\\.')}\\s*=\\s*(\\S+)`, 'm').exec(text)?.[1];
    }

    async function keyProvider(): Promise<string | undefined> {
      return property('kron.crypto.keyProvider');
    }

    it('status counts DEKs per key', async () => {
      const result = await runCli(['dek', 'status', '--home', home, '--json'], { env });

      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout) as {
        activeProvider: string;
        counts: { ref: { provider: string }; count: number }[];
      };
      expect(status.activeProvider).toBe('file');
      expect(status.counts).toHaveLength(1);
      expect(status.counts[0]?.ref.provider).toBe('file');
      expect(status.counts[0]?.count).toBe(DEKS);
    });

    it('migrate without a terminal needs --yes', async () => {
      const result = await runCli(['dek', 'migrate', '--to', 'hsm', '--home', home], { env });

      expect(result.code).toBe(2);
      expect(result.stderr).toContain('SR_CLI_USAGE_INVALID');
      expect(result.stderr).toContain('Pass --yes to run it.');
    });

    it('bad options name their usage code', async () => {
      const cases = [
        [['--to', 'bogus'], "--to is 'bogus', expected hsm or file."],
        [['--to', 'hsm', '--batch-size', '0'], "--batch-size is '0'"],
      ] as const;

      for (const [options, message] of cases) {
        const result = await runCli(['dek', 'migrate', ...options, '--home', home, '--yes'], {
          env,
        });

        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`SR_CLI_USAGE_INVALID: ${message}`);
      }
    });

    it('dry run changes nothing', async () => {
      const result = await runCli(
        ['dek', 'migrate', '--to', 'hsm', '--home', home, '--dry-run', '--json'],
        { env },
      );

      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, migrated: DEKS });
      expect(result.stderr).toContain('WARNING');
      expect(result.stderr).toContain(`progress: re-wrap ${DEKS}/${DEKS} DEKs`);
      expect(await keyProvider()).toBe('file');
    });

    it('terminal shows a progress bar', async () => {
      const terminal = startOnTerminal(
        [process.execPath, CLI, 'dek', 'migrate', '--to', 'hsm', '--home', home, '--dry-run'],
        env,
      );
      try {
        const bar = await terminal.expect('Dry run completed');

        expect(bar).toMatch(
          new RegExp(
            `re-wrap \\[[=-]+\\] ${DEKS}/${DEKS} DEKs \\| \\d+ DEKs/s \\| ETA \\S+ \\| failed 0`,
          ),
        );
        expect(bar).not.toContain('progress: re-wrap');
        expect(await terminal.exited).toBe(0);
      } finally {
        terminal.kill();
      }
    });

    it('menu runs a dry run and status', async () => {
      const terminal = startOnTerminal([process.execPath, CLI, 'dek', '--home', home], env);
      try {
        await terminal.expect('Choose an action');
        terminal.type(KEYS.down);
        terminal.type(KEYS.enter);
        await terminal.expect('Run it now, or try it first?');
        terminal.type(KEYS.enter);
        const run = await terminal.expect('Dry run completed');
        expect(run).toContain('Target: HSM key');

        await terminal.expect('Choose an action');
        terminal.type(KEYS.enter);
        const status = await terminal.expect('Latest migration runs:');
        expect(status).toMatch(new RegExp(`${DEKS}\\s+file key`));

        await terminal.expect('Choose an action');
        terminal.type(KEYS.up);
        terminal.type(KEYS.enter);
        expect(await terminal.exited).toBe(0);
      } finally {
        terminal.kill();
      }
      expect(await keyProvider()).toBe('file');
    });

    it('menu needs a terminal', async () => {
      const menu = await runCli(['dek', '--home', home], { env });
      const status = await runCli(['dek', '--home', home, 'status', '--json'], { env });

      expect(menu.code).toBe(2);
      expect(menu.stderr).toContain(
        'SR_CLI_USAGE_INVALID: strongroom dek needs an action when it does not run on a terminal',
      );
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ activeProvider: 'file' });
    });

    it('Ctrl-C at the prompt cancels', async () => {
      const terminal = startOnTerminal(
        [process.execPath, CLI, 'dek', 'migrate', '--to', 'hsm', '--home', home],
        env,
      );
      try {
        await terminal.expect('Re-wrap the DEKs now?');
        terminal.type(KEYS.ctrlC);
        await terminal.expect('Cancelled at the prompt.');

        expect(await terminal.exited).toBe(130);
        expect(terminal.output()).not.toContain('SR_INTERNAL');
      } finally {
        terminal.kill();
      }
      const status = await runCli(['dek', 'status', '--home', home, '--json'], { env });
      const counts = (JSON.parse(status.stdout) as { counts: { ref: { provider: string } }[] })
        .counts;
      expect(counts.map((entry) => entry.ref.provider)).toEqual(['file']);
    });

    it('status survives a closed standard output', async () => {
      const child = spawn(process.execPath, [CLI, 'dek', 'status', '--home', home], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // The reader goes away before the command writes, as `| head -0` would.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

      expect(stderr).toBe('');
      expect(code).toBe(0);
    });

    it('round trip to HSM and back', async () => {
      const forward = await runCli(
        ['dek', 'migrate', '--to', 'hsm', '--home', home, '--yes', '--set-provider', '--json'],
        { env },
      );

      expect(forward.stderr).toContain('Source: file key');
      expect(forward.stderr).toContain(`progress: verify ${DEKS}/${DEKS} DEKs`);
      expect(forward.code).toBe(0);
      expect(JSON.parse(forward.stdout)).toMatchObject({
        outcome: 'completed',
        migrated: DEKS,
        verified: DEKS,
      });
      expect(await keyProvider()).toBe('hsm');
      await expectSecretsReveal();

      const back = await runCli(['dek', 'migrate', '--to', 'file', '--home', home, '--yes'], {
        env,
      });

      expect(back.code).toBe(0);
      expect(back.stdout).toContain('Migration completed');
      expect(back.stderr).toContain('Set kron.crypto.keyProvider = file in');
      expect(await keyProvider()).toBe('hsm');
      const status = await runCli(['dek', 'status', '--home', home], { env });
      expect(status.stdout).toMatch(new RegExp(`completed {2}migrated ${DEKS}`));

      const again = await runCli(
        ['dek', 'migrate', '--to', 'file', '--home', home, '--yes', '--set-provider', '--json'],
        { env },
      );

      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ migrated: 0, verified: DEKS });
      expect(await keyProvider()).toBe('file');
      await expectSecretsReveal();
    });

    it('renew to a new file key', async () => {
      const oldKeyFile = await property('strongroom.keyFile');

      const result = await runCli(
        ['dek', 'renew', '--home', home, '--yes', '--set-provider', '--json'],
        { env },
      );

      expect(result.code).toBe(0);
      expect(result.stderr).toContain('Created the new master key file');
      expect(JSON.parse(result.stdout)).toMatchObject({
        outcome: 'completed',
        migrated: DEKS,
        verified: DEKS,
      });
      const newKeyFile = await property('strongroom.keyFile');
      expect(newKeyFile).toMatch(/master-\d{8}-\d{6}\.key$/);
      expect(newKeyFile).not.toBe(oldKeyFile);
      expect(await keyProvider()).toBe('file');
      await expectSecretsReveal();
    });

    it('records settings writes as config.change', async () => {
      const exportFile = join(context.baseDir, `audit-${randomBytes(4).toString('hex')}.jsonl`);
      const exported = await runCli(
        ['audit', 'export', '--format', 'jsonl', '--output', exportFile, '--home', home],
        { env },
      );
      expect(exported.stderr).toBe('');
      expect(exported.code).toBe(0);

      const lines = (await readFile(exportFile, 'utf8')).trim().split('\n');
      const changes = lines
        .map((line) => JSON.parse(line) as Record<string, string>)
        .filter((event) => event['action'] === 'config.change');
      expect(changes).toHaveLength(3);
      for (const change of changes) {
        expect(change['actor']).toBe(`os:${userInfo().username}`);
        expect(change['objectId']).toBe(join(home, 'security', 'security.properties'));
      }
      const details = changes.map((change) => JSON.parse(change['details'] ?? '{}') as unknown);
      expect(details[0]).toEqual({
        properties: 'kron.crypto.keyProvider',
        'kron.crypto.keyProvider': 'hsm',
      });
      expect(details[1]).toEqual({
        properties: 'kron.crypto.keyProvider',
        'kron.crypto.keyProvider': 'file',
      });
      expect(details[2]).toEqual({
        properties: 'strongroom.keyFile',
        'strongroom.keyFile': await property('strongroom.keyFile'),
      });
      expect(changes.map((change) => change['reason'])).toEqual([
        'strongroom dek migrate',
        'strongroom dek migrate',
        'strongroom dek renew',
      ]);

      const verify = await runCli(['audit', 'verify', '--home', home, '--json'], { env });
      expect(verify.stderr).toBe('');
      const report = JSON.parse(verify.stdout) as {
        eventCount: number;
        verifiedThroughSeq: number;
        findings: { kind: string }[];
      };
      expect(report.verifiedThroughSeq).toBe(report.eventCount);
      // NOTE: the checkpoints MAC'd with the file key before the renewal cannot be checked, because
      // verify only loads the current key file. Every other finding would be a chain error.
      const chainFindings = report.findings.filter(
        (finding) => finding.kind !== 'checkpoint-key-unavailable',
      );
      expect(chainFindings).toEqual([]);
    });

    it('renew to another HSM key', async () => {
      const result = await runCli(
        ['dek', 'renew', '--home', home, '--hsm-key-label', RENEWED_LABEL, '--yes'],
        { env },
      );

      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`-> HSM key '${RENEWED_LABEL}'`);
      expect(result.stderr).toContain(`hsm.keystore.alias = ${RENEWED_LABEL}`);
      expect(await keyProvider()).toBe('file');

      const status = await runCli(['dek', 'status', '--home', home, '--json'], { env });
      const counts = (JSON.parse(status.stdout) as { counts: { ref: { keyId: string } }[] }).counts;
      expect(counts.map((entry) => entry.ref.keyId)).toEqual([RENEWED_LABEL]);
    });

    it('renew to the key in use is rejected', async () => {
      const keyFile = (await property('strongroom.keyFile')) as string;

      const result = await runCli(
        ['dek', 'renew', '--home', home, '--key-file', keyFile, '--yes'],
        {
          env,
        },
      );

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'SR_DEK_RENEW_SAME_KEY: dek renew needs a new key, but the target is the source key, file key',
      );
      expect(result.stderr).not.toContain('WARNING');
    });

    it('renew names a missing key label flag', async () => {
      const result = await runCli(
        ['dek', 'renew', '--home', home, '--hsm-key-label', 'no-such-key', '--yes'],
        { env },
      );

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        "SR_HSM_KEY_NOT_FOUND: --hsm-key-label 'no-such-key': no secret key has this label on the token. Pass the label that 'strongroom hsm verify' lists, or generate the key with 'strongroom hsm keygen --label no-such-key'.",
      );
    });

    it('renew creates no key file when the source fails', async () => {
      const keyFile = (await property('strongroom.keyFile')) as string;
      const newKeyFile = join(context.baseDir, `never-${randomBytes(4).toString('hex')}.key`);
      await chmod(keyFile, 0o644);
      try {
        const result = await runCli(
          ['dek', 'renew', '--home', home, '--key-file', newKeyFile, '--yes'],
          { env },
        );

        expect(result.code).toBe(1);
        expect(result.stderr).toContain('SR_KEYFILE_PERMISSIONS');
        expect(result.stderr).not.toContain('Created the new master key file');
        expect(existsSync(newKeyFile)).toBe(false);
      } finally {
        await chmod(keyFile, 0o600);
      }
    });
  });
});

interface Session {
  baseUrl: string;
  token: string;
}

async function api(
  session: Session,
  method: string,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${session.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBeLessThan(300);
  return (await response.json()) as Record<string, unknown>;
}
