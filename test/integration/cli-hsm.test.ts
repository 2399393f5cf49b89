import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type AuditEventRecord } from '../../src/store/index.js';
import { freePort, runCli, type CliResult } from '../support/cli.js';
import { silentLogger } from '../support/databases.js';
import { generateAesKeyWithUsage } from '../support/softhsm-direct.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const hsmReady = softHsmAvailable();

interface VerifyJson {
  tokenLabel: string;
  keyLabel: string;
  objects: Array<{
    class: string;
    keyType: string;
    bits: number;
    label: string;
    id: string;
    usage: string[];
    access: string[];
  }>;
  masterKey: { usable: boolean; kcv?: string; error?: { code: string; message: string } };
}

describe.runIf(hsmReady)('hsm verify and keygen on SoftHSM', () => {
  let fixture: SoftHsmFixture;
  let root: string;
  let homeCount = 0;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    root = await mkdtemp(join(tmpdir(), 'strongroom-cli-hsm-'));
    await fixture.generateKey('usable-key', { id: '01' });
    await fixture.generateAuditKey('usable-key-audit');
    await fixture.generateKey('short-key', { bytes: 16 });
    await fixture.generateKey('open-key', { extractable: true });
    await fixture.generateKey('plain-key', { sensitive: false });
    await fixture.generateKey('twin-key');
    await fixture.generateKey('twin-key');
    await generateAesKeyWithUsage({
      library: fixture.library,
      configPath: fixture.configPath,
      tokenLabel: fixture.tokenLabel,
      userPin: fixture.userPin,
      keyLabel: 'no-decrypt-key',
      usage: { decrypt: false, unwrap: false },
    });
  });

  afterAll(async () => {
    await fixture.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  /** Writes a home folder whose hsm.keystore.alias is `keyLabel`. */
  async function makeHome(
    keyLabel: string,
    databaseUrl = 'sqlite:data/strongroom.db',
  ): Promise<string> {
    homeCount += 1;
    const home = join(root, `home-${homeCount}`);
    const init = await runCli([
      'init',
      '--home',
      home,
      '--database-url',
      databaseUrl,
      '--hsm-library',
      fixture.library,
      '--hsm-token-label',
      fixture.tokenLabel,
      '--hsm-key-label',
      keyLabel,
    ]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    return home;
  }

  /** Runs `hsm keygen` on `home` with `flags`, confirmed with --yes. */
  function runKeygen(home: string, ...flags: string[]): Promise<CliResult> {
    return hsmCli(['hsm', 'keygen', '--home', home, ...flags, '--yes']);
  }

  function hsmCli(args: string[], pin = fixture.userPin): Promise<CliResult> {
    return runCli(args, {
      env: {
        SOFTHSM2_CONF: fixture.configPath,
        STRONGROOM_HSM_PIN: pin,
        STRONGROOM_HSM_PIN_FILE: '',
      },
    });
  }

  function expectNoPin(result: CliResult, pin = fixture.userPin): void {
    expect(result.stdout).not.toContain(pin);
    expect(result.stderr).not.toContain(pin);
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

  it('verify accepts a usable key', async () => {
    const home = await makeHome('usable-key');
    const result = await hsmCli(['hsm', 'verify', '--home', home]);

    expect(result.stderr).not.toContain('strongroom: ');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Token '${fixture.tokenLabel}' at slot ID ${fixture.slotId}`);
    expect(result.stdout).toContain('CKO_SECRET_KEY; CKK_AES, 256 bits');
    expect(result.stdout).toContain('  label:  usable-key');
    expect(result.stdout).toContain('  ID:     01');
    expect(result.stdout).toMatch(
      /Master key 'usable-key' is usable: .+, check value [0-9a-f]{6}\./,
    );
    expectNoPin(result);
  });

  it('verify lists objects as JSON', async () => {
    const home = await makeHome('usable-key');
    const result = await hsmCli(['hsm', 'verify', '--home', home, '--json']);
    expect(result.code).toBe(0);

    const output = JSON.parse(result.stdout) as VerifyJson;
    expect(output.tokenLabel).toBe(fixture.tokenLabel);
    expect(output.keyLabel).toBe('usable-key');
    expect(output.masterKey.usable).toBe(true);
    expect(output.masterKey.kcv).toMatch(/^[0-9a-f]{6}$/);
    expect(output.objects).toHaveLength(8);

    const key = output.objects.find((object) => object.label === 'usable-key');
    expect(key).toMatchObject({ class: 'CKO_SECRET_KEY', keyType: 'CKK_AES', bits: 256, id: '01' });
    expect(key?.usage).toEqual(expect.arrayContaining(['encrypt', 'decrypt', 'wrap', 'unwrap']));
    expect(key?.access).toEqual(
      expect.arrayContaining(['private', 'sensitive', 'never extractable', 'local']),
    );
    expect(key?.access).not.toContain('extractable');

    const open = output.objects.find((object) => object.label === 'open-key');
    expect(open?.access).toContain('extractable');
    const short = output.objects.find((object) => object.label === 'short-key');
    expect(short?.bits).toBe(128);
    expectNoPin(result);
  });

  const unusable: Array<[string, string, string, string]> = [
    ['missing key', 'absent-key', 'SR_HSM_KEY_NOT_FOUND', "no secret key is labelled 'absent-key'"],
    [
      'two keys with the label',
      'twin-key',
      'SR_HSM_KEY_AMBIGUOUS',
      "2 secret keys are labelled 'twin-key'",
    ],
    [
      'AES-128 key',
      'short-key',
      'SR_HSM_KEY_WRONG_LENGTH',
      "key 'short-key' is AES-128, expected AES-256",
    ],
    ['extractable key', 'open-key', 'SR_HSM_KEY_EXTRACTABLE', "key 'open-key' is extractable"],
    [
      'key that is not sensitive',
      'plain-key',
      'SR_HSM_KEY_NOT_SENSITIVE',
      "key 'plain-key' is not sensitive",
    ],
    [
      'key without decrypt usage',
      'no-decrypt-key',
      'SR_HSM_KEY_USAGE_MISSING',
      "key 'no-decrypt-key'",
    ],
  ];

  it.each(unusable)('verify rejects a %s', async (_name, keyLabel, code, message) => {
    const home = await makeHome(keyLabel);
    const result = await hsmCli(['hsm', 'verify', '--home', home]);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`Master key '${keyLabel}' is not usable (${code}).`);
    expect(result.stderr).toContain(`strongroom: ${code}: ${message}`);
    expectNoPin(result);

    const json = await hsmCli(['hsm', 'verify', '--home', home, '--json']);
    expect(json.code).toBe(1);
    const output = JSON.parse(json.stdout) as VerifyJson;
    expect(output.masterKey.usable).toBe(false);
    expect(output.masterKey.error?.code).toBe(code);
    expect(output.masterKey.error?.message).toContain(message);
    expect(output.objects.length).toBeGreaterThan(0);
  });

  it('verify stops at a wrong PIN', async () => {
    const home = await makeHome('usable-key');
    const wrongPin = 'wrong-pin-3141';
    const result = await hsmCli(['hsm', 'verify', '--home', home, '--json'], wrongPin);

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const error = (JSON.parse(result.stderr) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('SR_HSM_PIN_INCORRECT');
    expect(error.message).toContain(`the token '${fixture.tokenLabel}' rejected the user PIN`);
    expectNoPin(result, wrongPin);
    expectNoPin(result);
  });

  it('verify reports a missing PIN', async () => {
    const home = await makeHome('usable-key');
    const result = await hsmCli(['hsm', 'verify', '--home', home], '');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('strongroom: SR_HSM_PIN_MISSING: ');
  });

  it('verify requires an HSM configuration', async () => {
    homeCount += 1;
    const home = join(root, `home-${homeCount}`);
    expect((await runCli(['init', '--home', home])).code).toBe(0);

    const result = await hsmCli(['hsm', 'verify', '--home', home]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'strongroom: SR_CONFIG_KEY_MISSING: ' +
        `${join(home, 'security', 'security.properties')}: hsm.provider.configPath is not set`,
    );
  });

  it('keygen makes a key that verify accepts', async () => {
    const home = await makeHome('generated-key');
    const keygen = await runKeygen(home, '--label', 'generated-key', '--json');
    // stderr may hold SoftHSM's warning about an earlier wrong PIN, but no error.
    expect(keygen.stderr).not.toContain('strongroom: SR_');
    expect(keygen.stderr).toContain(
      `strongroom: warning: The generation of the key 'generated-key' is not in the audit log, because the database ${join(home, 'data', 'strongroom.db')} does not exist yet.`,
    );
    expect(keygen.code).toBe(0);
    const key = JSON.parse(keygen.stdout) as { keyLabel: string; id: string; kcv: string };
    expect(key.keyLabel).toBe('generated-key');
    expect(key.id).toMatch(/^[0-9a-f]{32}$/);
    expectNoPin(keygen);

    const withoutAuditKey = await hsmCli(['hsm', 'verify', '--home', home]);
    expect(withoutAuditKey.code).toBe(1);
    expect(withoutAuditKey.stdout).toContain(
      "Audit checkpoint key 'generated-key-audit' is not usable (SR_AUDIT_KEY_NOT_FOUND).",
    );
    expect(withoutAuditKey.stderr).toContain(
      "strongroom: SR_AUDIT_KEY_NOT_FOUND: no secret key is labelled 'generated-key-audit' on the token",
    );
    expect(withoutAuditKey.stderr).toContain(
      `Create it with 'strongroom hsm keygen --audit --label "generated-key-audit"'`,
    );

    const auditKeygen = await runKeygen(home, '--audit', '--json');
    expect(auditKeygen.stderr).not.toContain('strongroom: SR_');
    expect(auditKeygen.code).toBe(0);
    expect(JSON.parse(auditKeygen.stdout)).toMatchObject({
      keyLabel: 'generated-key-audit',
      algorithm: 'hmac-sha256',
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expectNoPin(auditKeygen);

    const verify = await hsmCli(['hsm', 'verify', '--home', home, '--json']);
    expect(verify.code).toBe(0);
    const output = JSON.parse(verify.stdout) as VerifyJson & { auditKey: unknown };
    expect(output.masterKey).toMatchObject({ usable: true, kcv: key.kcv });
    expect(output.auditKey).toEqual({ usable: true, algorithm: 'hmac-sha256' });
    const auditObject = output.objects.find((object) => object.label === 'generated-key-audit');
    expect(auditObject).toMatchObject({ keyType: 'CKK_GENERIC_SECRET', bits: 256 });
    expect(auditObject?.usage).toEqual(['sign', 'verify']);
    expect(auditObject?.access).toEqual(expect.arrayContaining(['sensitive', 'never extractable']));
    const generated = output.objects.find((object) => object.label === 'generated-key');
    expect(generated).toMatchObject({ keyType: 'CKK_AES', bits: 256, id: key.id });
    expect(generated?.access).toEqual(
      expect.arrayContaining([
        'private',
        'sensitive',
        'always sensitive',
        'never extractable',
        'local',
      ]),
    );
    expect(generated?.access).not.toContain('extractable');
  });

  it('keygen rejects a label in use', async () => {
    const home = await makeHome('usable-key');
    const result = await runKeygen(home, '--label', 'usable-key');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "strongroom: SR_HSM_KEY_LABEL_IN_USE: 1 object(s) on the token 'pam' are labelled 'usable-key' already.",
    );
  });

  it('keygen needs --label or --audit', async () => {
    const home = await makeHome('usable-key');

    const result = await runKeygen(home);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--label is missing');
    expect(result.stderr).toContain('add --audit');
  });

  it('keygen --audit rejects the master key label', async () => {
    const home = await makeHome('usable-key');

    const result = await runKeygen(home, '--audit', '--label', 'usable-key');

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "SR_CONFIG_VALUE_INVALID: --label 'usable-key' is the label of the master key",
    );
  });

  it('keygen --audit names the renewal label', async () => {
    const home = await makeHome('current-key');

    const renewal = await runKeygen(home, '--audit', '--label', 'next-key-audit');
    const other = await runKeygen(home, '--audit', '--label', 'checkpoints');

    expect(renewal.code).toBe(0);
    expect(renewal.stdout).toContain(
      "This is the default audit key label of a master key labelled 'next-key', as 'dek renew --hsm-key-label next-key' needs it.",
    );
    expect(other.code).toBe(0);
    expect(other.stdout).toContain(
      "strongroom.audit.keyLabel is 'current-key-audit'. Set it to 'checkpoints' in security.properties",
    );
  });

  it('keygen asks for --yes without a terminal', async () => {
    const home = await makeHome('unconfirmed-key');
    const result = await hsmCli(['hsm', 'keygen', '--home', home, '--label', 'unconfirmed-key']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'strongroom: SR_CLI_USAGE_INVALID: hsm keygen changes the token and standard input is not a terminal. Add --yes to generate the key.',
    );

    const verify = await hsmCli(['hsm', 'verify', '--home', home, '--json']);
    const output = JSON.parse(verify.stdout) as VerifyJson;
    expect(output.masterKey.error?.code).toBe('SR_HSM_KEY_NOT_FOUND');
  });

  it('keygen rejects a label with blanks', async () => {
    const home = await makeHome('usable-key');
    const result = await runKeygen(home, '--label', 'spaced ');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('strongroom: SR_CONFIG_VALUE_INVALID: ');
  });

  it('keygen records key.generate events', async () => {
    const home = await makeHome('audited-key');
    await createDatabase(home);

    const keygen = await runKeygen(home, '--label', 'audited-key', '--json');
    expect(keygen.stderr).not.toContain('strongroom: ');
    expect(keygen.code).toBe(0);
    const key = JSON.parse(keygen.stdout) as { id: string; kcv: string; slotId: number };
    const auditKeygen = await runKeygen(home, '--audit');
    expect(auditKeygen.stderr).not.toContain('strongroom: ');
    expect(auditKeygen.code).toBe(0);

    const events = await listEvents(home, 'key.generate');
    expect(events).toHaveLength(2);
    const [master, checkpoint] = events;
    expect(master).toMatchObject({
      actor: `os:${userInfo().username}`,
      objectType: 'hsm_key',
      objectId: 'audited-key',
      outcome: 'success',
      clientAddress: 'cli',
    });
    expect(master?.details).toEqual({
      purpose: 'master',
      keyLabel: 'audited-key',
      keyId: key.id,
      tokenLabel: fixture.tokenLabel,
      slotId: key.slotId,
      mechanism: expect.any(String) as string,
      kcv: key.kcv,
    });
    expect(checkpoint?.objectId).toBe('audited-key-audit');
    expect(checkpoint?.details).toMatchObject({
      purpose: 'audit-checkpoint',
      keyLabel: 'audited-key-audit',
      algorithm: 'hmac-sha256',
    });
    expect(JSON.stringify(events)).not.toContain(fixture.userPin);

    const verify = await hsmCli(['audit', 'verify', '--home', home, '--json']);
    expect(verify.stderr).not.toContain('strongroom: ');
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ intact: true, eventCount: 2 });
  });

  it('keygen reports a failed event write', async () => {
    const home = await makeHome('unaudited-key');
    await createDatabase(home);
    const database = new Database(join(home, 'data', 'strongroom.db'));
    database.exec(
      `create trigger audit_events_read_only before insert on audit_events
       begin select raise(abort, 'audit_events is read-only for this test'); end`,
    );
    database.close();

    const keygen = await runKeygen(home, '--label', 'unaudited-key');

    expect(keygen.code).toBe(1);
    expect(keygen.stderr).toContain(
      "strongroom: SR_AUDIT_WRITE_FAILED: The key 'unaudited-key' (ID ",
    );
    expect(keygen.stderr).toContain('but its audit event could not be written.');
    expectNoPin(keygen);
    const verify = await hsmCli(['hsm', 'verify', '--home', home, '--json']);
    const output = JSON.parse(verify.stdout) as VerifyJson;
    expect(output.masterKey.usable).toBe(true);
  });

  it('keygen stops at an unreachable database', async () => {
    const port = await freePort();
    const home = await makeHome(
      'blocked-key',
      `postgres://strongroom@127.0.0.1:${port}/strongroom`,
    );

    const keygen = await runKeygen(home, '--label', 'blocked-key');

    expect(keygen.code).toBe(1);
    expect(keygen.stderr).toContain('strongroom: SR_DB_UNREACHABLE: ');
    const verify = await hsmCli(['hsm', 'verify', '--home', home, '--json']);
    const output = JSON.parse(verify.stdout) as VerifyJson;
    expect(output.masterKey.error?.code).toBe('SR_HSM_KEY_NOT_FOUND');
  });
});
