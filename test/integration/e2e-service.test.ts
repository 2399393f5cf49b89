import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { describeEachDialect, testPostgres } from './../support/databases.js';
import { findPostgresBinDir } from '../support/postgres.js';
import { hsmEnvironment } from '../support/homes.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';
import { freePort, runCli, startServe, type ServiceProcess } from '../support/cli.js';
import {
  configureTargetAccess,
  enrolAndLogin,
  fetchClient,
  grantAccess,
} from '../support/people.js';

const run = promisify(execFile);
const hsmReady = softHsmAvailable();
const ADMIN_PASSWORD = `admin-${randomBytes(9).toString('base64url')}`;
/** The operator and approver of the access workflow, created with the CLI like the administrator. */
const PEOPLE = {
  olga: { role: 'operator', password: `olga-${randomBytes(9).toString('base64url')}` },
  abel: { role: 'approver', password: `abel-${randomBytes(9).toString('base64url')}` },
} as const;
const KEY_LABEL = 'pam-master-key';

/** The fields of API responses that these tests read. */
interface ApiBody {
  id?: string;
  secret?: string;
  events?: Array<Record<string, unknown>>;
}

interface ApiReply {
  status: number;
  json: ApiBody;
  text: string;
}

interface Session {
  baseUrl: string;
  token: string;
}

async function api(
  session: Session,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiReply> {
  const response = await fetch(`${session.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${session.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as ApiBody), text };
}

/** Enrols TOTP for a user as they would at their first login, then logs in with a code. */
async function enrolAndStart(
  baseUrl: string,
  username: string,
  password: string,
): Promise<Session> {
  const { token } = await enrolAndLogin(fetchClient(baseUrl), username, password, new Date());
  return { baseUrl, token };
}

/** Reads every file of the SQLite database (main file, WAL and shared memory) as one buffer. */
async function sqliteBytes(dataDir: string): Promise<Buffer> {
  const names = (await readdir(dataDir)).filter((name) => name.startsWith('strongroom.db'));
  return Buffer.concat(await Promise.all(names.map((name) => readFile(join(dataDir, name)))));
}

describe.runIf(hsmReady)('service end to end on SoftHSM', () => {
  describeEachDialect('vault', (context) => {
    let fixture: SoftHsmFixture;
    let home: string;
    let databaseUrl: string;
    let baseUrl: string;
    let env: NodeJS.ProcessEnv;
    const secret = `root-${randomBytes(12).toString('hex')}`;
    const logs: string[] = [];

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: `e2e-${context.dialect}` });
      await fixture.generateKey(KEY_LABEL);
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);

      home = join(context.baseDir, 'home');
      databaseUrl =
        context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      env = await hsmEnvironment(context.baseDir, fixture);

      const init = await runCli([
        'init',
        '--home',
        home,
        '--database-url',
        databaseUrl,
        '--listen',
        `127.0.0.1:${port}`,
        '--hsm-library',
        fixture.library,
        '--hsm-token-label',
        fixture.tokenLabel,
        '--hsm-key-label',
        KEY_LABEL,
      ]);
      expect(init.stderr).toBe('');
      expect(init.code).toBe(0);

      const user = await runCli(['user', 'add', '--home', home, '--username', 'admin'], {
        input: `${ADMIN_PASSWORD}\n`,
      });
      expect(user.stderr).toBe('');
      expect(user.code).toBe(0);
      expect(user.stdout).toContain("'admin' must enrol a TOTP second factor at the first login");

      for (const [username, { role, password }] of Object.entries(PEOPLE)) {
        const added = await runCli(
          ['user', 'add', '--home', home, '--username', username, '--role', role],
          { input: `${password}\n` },
        );
        expect(added.code, added.stderr).toBe(0);
      }
    });

    afterAll(async () => {
      await fixture?.cleanup();
    });

    async function serve(): Promise<ServiceProcess> {
      return startServe(home, baseUrl, env);
    }

    it('reveals a secret after restart', async () => {
      let service = await serve();
      let accountId: string;
      let admin: Session;
      let operator: Session;
      try {
        admin = await enrolAndStart(baseUrl, 'admin', ADMIN_PASSWORD);
        operator = await enrolAndStart(baseUrl, 'olga', PEOPLE.olga.password);
        const approver = await enrolAndStart(baseUrl, 'abel', PEOPLE.abel.password);

        const target = await api(admin, 'POST', '/api/v1/targets', {
          name: 'db01',
          address: 'db01.example.internal',
        });
        expect(target.status).toBe(201);
        const account = await api(admin, 'POST', `/api/v1/targets/${target.json.id}/accounts`, {
          username: 'root',
          secret,
        });
        expect(account.status).toBe(201);
        expect(account.text).not.toContain(secret);
        accountId = account.json.id ?? '';

        const users = (await api(admin, 'GET', '/api/v1/users')).json as unknown as {
          users: Array<{ id: string; username: string }>;
        };
        const idOf = (name: string) => users.users.find((user) => user.username === name)!.id;
        const call = fetchClient(baseUrl);
        const parties = {
          admin: admin.token,
          operator: operator.token,
          operatorId: idOf('olga'),
          approver: approver.token,
          approverId: idOf('abel'),
        };
        await configureTargetAccess(call, parties, target.json.id ?? '');
        await grantAccess(call, parties, accountId);
      } finally {
        await service.stop();
        logs.push(service.output());
      }

      // Sessions and grants are rows in the database, so they outlive the restart.
      service = await serve();
      try {
        const noReason = await api(operator, 'POST', `/api/v1/accounts/${accountId}/reveal`, {});
        expect(noReason.status).toBe(400);

        const reveal = await api(operator, 'POST', `/api/v1/accounts/${accountId}/reveal`, {
          reason: 'rotate after incident 42',
        });
        expect(reveal.status).toBe(200);
        expect(reveal.json.secret).toBe(secret);

        const audit = await api(admin, 'GET', '/api/v1/audit/events?limit=100');
        expect(audit.status).toBe(200);
        const events = audit.json.events ?? [];
        const logins = events.filter(
          (event) => event.action === 'auth.login' && event.outcome === 'success',
        );
        // Each user logged in twice: once to enrol TOTP, once with a code.
        expect(logins.map((event) => event.actor).sort()).toEqual([
          'abel',
          'abel',
          'admin',
          'admin',
          'olga',
          'olga',
        ]);
        const reveals = events.filter((event) => event.action === 'secret.reveal');
        // The reveal without a reason was refused, and refusals are audited too.
        expect(reveals.map((event) => event.outcome).sort()).toEqual(['failure', 'success']);
        const success = reveals.find((event) => event.outcome === 'success');
        expect(success).toMatchObject({
          actor: 'olga',
          objectId: accountId,
          outcome: 'success',
          reason: 'rotate after incident 42',
          clientAddress: '127.0.0.1',
        });
        expect(success?.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect(audit.text).not.toContain(secret);
        expect(audit.text).not.toContain(ADMIN_PASSWORD);
      } finally {
        await service.stop();
        logs.push(service.output());
      }
    });

    it('names the HSM key in DEK rows', async () => {
      // One DEK for the account secret and one for the TOTP secret of each of the three users.
      const deks = await context.runSql(
        databaseUrlFor(),
        'select provider, key_id, mechanism, cast(count(*) as integer) as count from deks group by provider, key_id, mechanism',
      );
      expect(deks).toEqual([
        { provider: 'hsm', key_id: KEY_LABEL, mechanism: 'aes-256-gcm', count: 4 },
      ]);
      const canaries = await context.runSql(
        databaseUrlFor(),
        'select provider, key_id from master_keys',
      );
      expect(canaries).toEqual([{ provider: 'hsm', key_id: KEY_LABEL }]);
    });

    it('stores no plaintext in the database', async () => {
      let stored: Buffer;
      if (context.dialect === 'sqlite') {
        stored = await sqliteBytes(join(home, 'data'));
      } else {
        const binDir = findPostgresBinDir();
        expect(binDir).toBeDefined();
        const { stdout } = await run(join(binDir as string, 'pg_dump'), ['--dbname', databaseUrl], {
          maxBuffer: 64 * 1024 * 1024,
        });
        stored = Buffer.from(stdout);
        expect(stdout).toContain('deks');
      }
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.includes(Buffer.from(secret))).toBe(false);
      expect(stored.includes(Buffer.from(ADMIN_PASSWORD))).toBe(false);
      for (const { password } of Object.values(PEOPLE)) {
        expect(stored.includes(Buffer.from(password))).toBe(false);
      }
    });

    it('keeps secrets out of its log', () => {
      const output = logs.join('\n');
      expect(output).toContain('strongroom started');
      expect(output).not.toContain(secret);
      expect(output).not.toContain(ADMIN_PASSWORD);
      expect(output).not.toContain(fixture.userPin);
    });

    it('rejects a wrong PIN without printing it', async () => {
      const wrongPin = `wrong-${randomBytes(4).toString('hex')}`;
      const result = await runServeToExit({
        ...env,
        STRONGROOM_HSM_PIN: wrongPin,
        STRONGROOM_HSM_PIN_FILE: '',
      });
      expect(result.code).toBe(1);
      expect(result.output).toContain('SR_HSM_PIN_INCORRECT');
      expect(result.output).not.toContain(wrongPin);
    });

    it('rejects file provider over HSM DEKs', async () => {
      const securityProperties = join(home, 'security', 'security.properties');
      const original = await readFile(securityProperties, 'utf8');
      await createKeyFile(join(home, 'security', 'master.key'));
      await writeFile(
        securityProperties,
        original.replace('kron.crypto.keyProvider = hsm', 'kron.crypto.keyProvider = file'),
      );
      try {
        const result = await runServeToExit(env);
        expect(result.code).toBe(1);
        expect(result.output).toContain('SR_KEY_PROVIDER_MISMATCH');
        expect(result.output).toContain(`4 stored DEKs are wrapped by HSM key '${KEY_LABEL}'`);
        expect(result.output).toContain("run 'strongroom dek migrate --to file' first");
      } finally {
        await writeFile(securityProperties, original);
      }
    });

    function databaseUrlFor(): string {
      return context.dialect === 'sqlite'
        ? `sqlite:${join(home, 'data', 'strongroom.db')}`
        : databaseUrl;
    }

    async function runServeToExit(
      serveEnv: NodeJS.ProcessEnv,
    ): Promise<{ code: number | null; output: string }> {
      const result = await runCli(['serve', '--home', home], { env: serveEnv });
      return { code: result.code, output: `${result.stdout}${result.stderr}` };
    }
  });
});

describe('service with the file provider', () => {
  it('rejects a key file others can read', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const home = await mkdtemp(join(tmpdir(), 'strongroom-e2e-file-'));
    const port = await freePort();
    const init = await runCli(['init', '--home', home, '--listen', `127.0.0.1:${port}`]);
    expect(init.code).toBe(0);
    await chmod(join(home, 'security', 'master.key'), 0o644);

    const result = await runCli(['serve', '--home', home]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_KEYFILE_PERMISSIONS');
    expect(result.stderr).toContain(`chmod 600 ${join(home, 'security', 'master.key')}`);
  });

  it('reports the file provider in /health', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const home = await mkdtemp(join(tmpdir(), 'strongroom-e2e-file-'));
    const port = await freePort();
    expect((await runCli(['init', '--home', home, '--listen', `127.0.0.1:${port}`])).code).toBe(0);
    await mkdir(join(home, 'data'), { recursive: true });
    await appendFile(join(home, 'strongroom.properties'), 'log.level = warn\n');

    const service = await startServe(home, `http://127.0.0.1:${port}`, {});
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      const health = (await response.json()) as {
        healthy: boolean;
        activeProvider: string;
        providers: Array<{ kind: string }>;
      };
      expect(health.healthy).toBe(true);
      expect(health.activeProvider).toBe('file');
      expect(health.providers[0]?.kind).toBe('file');
    } finally {
      await service.stop();
    }
  });

  it('answers 503 when the key fails its canary', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { default: Sqlite } = await import('better-sqlite3');
    const home = await mkdtemp(join(tmpdir(), 'strongroom-e2e-file-'));
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    expect((await runCli(['init', '--home', home, '--listen', `127.0.0.1:${port}`])).code).toBe(0);

    const service = await startServe(home, baseUrl, {});
    try {
      // A canary that no longer opens stands for a master key that no longer works.
      const database = new Sqlite(join(home, 'data', 'strongroom.db'));
      database.prepare('update master_keys set canary = ?').run(Buffer.alloc(60));
      database.close();

      let response = await fetch(`${baseUrl}/health`);
      for (let attempt = 0; attempt < 50 && response.status === 200; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        response = await fetch(`${baseUrl}/health`);
      }
      const health = (await response.json()) as {
        healthy: boolean;
        providers: Array<{ ready: boolean }>;
      };
      expect(response.status).toBe(503);
      expect(health.healthy).toBe(false);
      expect(health.providers[0]?.ready).toBe(false);
    } finally {
      await service.stop();
    }
    expect(service.output()).toContain('active master key failed its health check');
  });
});

// The global setup provides the PostgreSQL server. Reading it here makes a missing server fail
// this file at once under CI, rather than deep inside a suite.
testPostgres();
