import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type AuditEventRecord } from '../../src/store/index.js';
import { freePort, runCli, startServe } from '../support/cli.js';
import { silentLogger } from '../support/databases.js';
import { KEYS, startOnTerminal } from '../support/terminal.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const hsmReady = softHsmAvailable();

describe.runIf(hsmReady)('hsm register on SoftHSM', () => {
  let fixture: SoftHsmFixture;
  let root: string;
  let homeCount = 0;
  /** The environment without any PIN variable, so only the sealed PIN can serve. */
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture({ tokenLabel: 'register' });
    root = await mkdtemp(join(tmpdir(), 'strongroom-register-'));
    await fixture.generateKey('pam-master-key');
    await fixture.generateAuditKey('pam-master-key-audit');
    await fixture.generateKey('second-key');
    await fixture.generateAuditKey('second-key-audit');
    env = {
      SOFTHSM2_CONF: fixture.configPath,
      STRONGROOM_HSM_PIN: '',
      STRONGROOM_HSM_PIN_FILE: '',
    };
  });

  afterAll(async () => {
    await fixture.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  async function makeHome(
    port = 9,
    databaseUrl = 'sqlite:data/strongroom.db',
  ): Promise<{ home: string; properties: string }> {
    homeCount += 1;
    const home = join(root, `home-${homeCount}`);
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
      'pam-master-key',
    ]);
    expect(init.code).toBe(0);
    return { home, properties: join(home, 'security', 'security.properties') };
  }

  /** Creates the home's SQLite database with the current schema, as the first `serve` does. */
  async function createDatabase(home: string): Promise<void> {
    const store = await openStore('sqlite:data/strongroom.db', {
      baseDir: home,
      logger: silentLogger(),
    });
    await store.close();
  }

  async function listEvents(home: string, action: string): Promise<AuditEventRecord[]> {
    const store = await openStore('sqlite:data/strongroom.db', {
      baseDir: home,
      logger: silentLogger(),
    });
    try {
      return await store.audit.listEvents({ action, limit: 10 });
    } finally {
      await store.close();
    }
  }

  it('seals the PIN and keeps the file layout', async () => {
    const { home, properties } = await makeHome();
    const before = await readFile(properties, 'utf8');

    const result = await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: `${fixture.userPin}\n`,
    });

    expect(result.stderr).toBe(
      `strongroom: warning: The change of hsm.keystore.alias, hsm.keystore.load.password, hsm.keystore.entry.password in ${properties} is not in the audit log, because the database ${join(home, 'data', 'strongroom.db')} does not exist yet. It is created by the first command that opens it, such as 'strongroom serve'.\n`,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("The HSM key with label 'pam-master-key' was found");
    const after = await readFile(properties, 'utf8');
    expect(after).not.toContain(fixture.userPin);
    expect(after).toMatch(/^hsm\.keystore\.load\.password = sealed:v1:/m);
    expect(after).toMatch(/^hsm\.keystore\.entry\.password = sealed:v1:/m);
    const comments = (text: string) => text.split('\n').filter((line) => line.startsWith('#'));
    expect(comments(after)).toEqual(comments(before));
    expect((await stat(properties)).mode & 0o777).toBe(0o600);
  });

  it('lets verify and serve use the sealed PIN', async () => {
    const port = await freePort();
    const { home } = await makeHome(port);
    const register = await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: fixture.userPin,
    });
    expect(register.code).toBe(0);

    const verify = await runCli(['hsm', 'verify', '--home', home], { env });
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);

    const service = await startServe(home, `http://127.0.0.1:${port}`, env);
    await service.stop();
    expect(service.output()).toContain('strongroom started');
    expect(service.output()).not.toContain(fixture.userPin);
  });

  it('runs its menu on a terminal', async () => {
    const { home, properties } = await makeHome();
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
    const terminal = startOnTerminal(
      [process.execPath, cli, 'hsm', 'register', '--home', home],
      env,
    );
    try {
      await terminal.expect('Choose an action');
      terminal.type(KEYS.down + KEYS.enter);
      await terminal.expect('keystore load password');
      terminal.type(fixture.userPin + KEYS.enter);
      await terminal.expect('keystore entry password');
      terminal.type(fixture.userPin + KEYS.enter);
      await terminal.expect('HSM key found with alias pam-master-key');
      await terminal.expect('Overwrite security.properties?');
      terminal.type(KEYS.enter);
      await terminal.expect('security.properties was updated.');

      await terminal.expect('Choose an action');
      terminal.type(KEYS.enter);
      await terminal.expect('Master key alias');
      terminal.type('second-key' + KEYS.enter);
      await terminal.expect('HSM key found with alias second-key');
      terminal.type(KEYS.enter);
      await terminal.expect('security.properties was updated.');

      await terminal.expect('Choose an action');
      terminal.type(KEYS.down + KEYS.down + KEYS.enter);
      expect(await terminal.exited).toBe(0);
    } finally {
      terminal.kill();
    }

    expect(terminal.output()).not.toContain(fixture.userPin);
    const text = await readFile(properties, 'utf8');
    expect(text).toMatch(/^hsm\.keystore\.alias = second-key$/m);
    expect(text).toMatch(/^hsm\.keystore\.load\.password = sealed:v1:/m);
    expect(text).not.toContain(fixture.userPin);
  });

  it('updates the alias after proving it', async () => {
    const { home, properties } = await makeHome();
    await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: fixture.userPin,
    });

    const result = await runCli(
      ['hsm', 'register', '--home', home, '--alias', 'second-key', '--yes'],
      { env },
    );

    expect(result.code).toBe(0);
    expect(await readFile(properties, 'utf8')).toMatch(/^hsm\.keystore\.alias = second-key$/m);
  });

  it.each([
    ['a wrong PIN', ['--pin-stdin'], 'wrong-pin-0000', 'SR_HSM_PIN_INCORRECT'],
    ['an unknown alias', ['--alias', 'no-such-key', '--pin-stdin'], '', 'SR_HSM_KEY_NOT_FOUND'],
  ])('writes nothing for %s', async (_name, flags, pin, code) => {
    const { home, properties } = await makeHome();
    const before = await readFile(properties, 'utf8');

    const result = await runCli(['hsm', 'register', '--home', home, ...flags, '--yes'], {
      env,
      input: pin === '' ? fixture.userPin : pin,
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(code);
    expect(result.stderr).not.toContain(fixture.userPin);
    if (pin !== '') {
      expect(result.stderr).not.toContain(pin);
    }
    expect(await readFile(properties, 'utf8')).toBe(before);
  });

  it('asks for --yes without a terminal', async () => {
    const { home, properties } = await makeHome();
    const before = await readFile(properties, 'utf8');

    const result = await runCli(['hsm', 'register', '--home', home, '--pin-stdin'], {
      env,
      input: fixture.userPin,
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('pass --yes');
    expect(await readFile(properties, 'utf8')).toBe(before);
  });

  it('rejects a sealed PIN next to a PIN variable', async () => {
    const { home } = await makeHome();
    await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: fixture.userPin,
    });

    const result = await runCli(['hsm', 'verify', '--home', home], {
      env: { ...env, STRONGROOM_HSM_PIN: fixture.userPin },
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'sealed in security.properties and also given in STRONGROOM_HSM_PIN',
    );
  });

  it('records config.change events', async () => {
    const { home, properties } = await makeHome();
    await createDatabase(home);

    const pinResult = await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: fixture.userPin,
    });
    expect(pinResult.stderr).toBe('');
    expect(pinResult.code).toBe(0);
    const aliasResult = await runCli(
      ['hsm', 'register', '--home', home, '--alias', 'second-key', '--yes'],
      { env },
    );
    expect(aliasResult.stderr).toBe('');
    expect(aliasResult.code).toBe(0);

    const events = await listEvents(home, 'config.change');
    expect(events).toHaveLength(2);
    const [pinChange, aliasChange] = events;
    expect(pinChange).toMatchObject({
      actor: `os:${userInfo().username}`,
      objectType: 'config_file',
      objectId: properties,
      outcome: 'success',
      reason: 'strongroom hsm register',
      clientAddress: 'cli',
    });
    expect(pinChange?.details).toEqual({
      properties: 'hsm.keystore.alias,hsm.keystore.load.password,hsm.keystore.entry.password',
      previousAlias: 'pam-master-key',
      alias: 'pam-master-key',
      pinChanged: true,
    });
    expect(aliasChange?.details).toEqual({
      properties: 'hsm.keystore.alias',
      previousAlias: 'pam-master-key',
      alias: 'second-key',
      pinChanged: false,
    });
    const stored = JSON.stringify(events);
    expect(stored).not.toContain(fixture.userPin);
    expect(stored).not.toContain('sealed:');

    const verify = await runCli(['audit', 'verify', '--home', home, '--json'], { env });
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ intact: true, eventCount: 2 });
  });

  it('restores the file when the event fails', async () => {
    const { home, properties } = await makeHome();
    await createDatabase(home);
    const database = new Database(join(home, 'data', 'strongroom.db'));
    database.exec(
      `create trigger audit_events_read_only before insert on audit_events
       begin select raise(abort, 'audit_events is read-only for this test'); end`,
    );
    database.close();
    const before = await readFile(properties, 'utf8');

    const result = await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: fixture.userPin,
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'strongroom: SR_AUDIT_WRITE_FAILED: The audit event config.change for config_file ',
    );
    expect(result.stderr).not.toContain(fixture.userPin);
    expect(result.stdout).not.toContain('was updated');
    expect(await readFile(properties, 'utf8')).toBe(before);
  });

  it('writes nothing without a reachable database', async () => {
    const port = await freePort();
    const { home, properties } = await makeHome(
      9,
      `postgres://strongroom@127.0.0.1:${port}/strongroom`,
    );
    const before = await readFile(properties, 'utf8');

    const result = await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env,
      input: fixture.userPin,
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('strongroom: SR_DB_UNREACHABLE: ');
    expect(result.stderr).not.toContain(fixture.userPin);
    expect(await readFile(properties, 'utf8')).toBe(before);
  });
});
