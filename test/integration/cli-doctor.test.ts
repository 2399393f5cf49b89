import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setProperty } from '../../src/config/properties-editor.js';
import { openStore } from '../../src/store/index.js';
import { freePort, runCli, type CliResult } from '../support/cli.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const hsmReady = softHsmAvailable();

interface DoctorJson {
  home: string;
  ok: boolean;
  checks: Array<{ name: string; status: string; message: string; code?: string; fix?: string }>;
}

let root: string;
let homeCount = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'strongroom-doctor-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function doctor(home: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(['doctor', '--home', home, '--json'], { env });
}

function parse(result: CliResult): DoctorJson {
  return JSON.parse(result.stdout) as DoctorJson;
}

function check(output: DoctorJson, name: string): DoctorJson['checks'][number] | undefined {
  return output.checks.find((entry) => entry.name === name);
}

async function init(args: string[] = []): Promise<string> {
  homeCount += 1;
  const home = join(root, `home-${homeCount}`);
  const result = await runCli(['init', '--home', home, ...args]);
  expect(result.code).toBe(0);
  return home;
}

/** Creates the schema, as the first start of strongroom serve would. */
async function createDatabase(home: string): Promise<void> {
  const store = await openStore('sqlite:data/strongroom.db', {
    baseDir: home,
    logger: pino({ level: 'silent' }),
  });
  await store.close();
}

async function setServerProperty(home: string, key: string, value: string): Promise<void> {
  const path = join(home, 'strongroom.properties');
  await writeFile(path, setProperty(await readFile(path, 'utf8'), key, value));
}

describe('doctor with the file provider', () => {
  it('passes a new home folder', async () => {
    const home = await init();
    await createDatabase(home);
    const result = await doctor(home);

    expect(result.code).toBe(0);
    const output = parse(result);
    expect(output.ok).toBe(true);
    expect(output.home).toBe(home);
    expect(output.checks.map((entry) => entry.name)).toEqual([
      'home folder',
      'strongroom.properties',
      'security.properties',
      'configuration',
      'security.properties mode',
      'key file mode',
      'file master key',
      'database',
      'DEKs',
    ]);
    expect(output.checks.every((entry) => entry.status === 'ok')).toBe(true);
  });

  it('prints one line per check without --json', async () => {
    const home = await init();
    await createDatabase(home);
    const result = await runCli(['doctor', '--home', home]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`[ok] home folder: ${home} exists.`);
    expect(result.stdout).toContain('[ok] DEKs: 0 DEK(s)');
  });

  it('warns about a database not created yet', async () => {
    const home = await init();
    const result = await doctor(home);
    expect(result.code).toBe(0);
    expect(check(parse(result), 'database')?.status).toBe('warning');
  });

  it('fails a missing home folder', async () => {
    const result = await doctor(join(root, 'absent'));
    expect(result.code).toBe(1);
    const output = parse(result);
    expect(output.ok).toBe(false);
    expect(output.checks).toHaveLength(1);
    expect(output.checks[0]).toMatchObject({ name: 'home folder', status: 'failed' });
    expect(output.checks[0]?.fix).toContain('strongroom init');
  });

  it('fails readable security.properties', async () => {
    const home = await init();
    await createDatabase(home);
    const path = join(home, 'security', 'security.properties');
    await chmod(path, 0o644);

    const result = await doctor(home);
    expect(result.code).toBe(1);
    expect(check(parse(result), 'security.properties mode')).toMatchObject({
      status: 'failed',
      message: `${path} has mode 0644, so other users can access it.`,
      fix: `chmod 600 ${path}`,
    });
  });

  it.runIf(process.getuid?.() === 0)('warns about a file of another owner', async () => {
    const home = await init();
    await createDatabase(home);
    const path = join(home, 'security', 'security.properties');
    await chown(path, 65534, 65534);

    const result = await doctor(home);
    expect(result.code).toBe(0);
    const entry = check(parse(result), 'security.properties mode');
    expect(entry?.status).toBe('warning');
    expect(entry?.message).toBe(
      `${path} belongs to user ID 65534, but Strongroom runs as user ID 0.`,
    );
  });

  it('fails a readable key file', async () => {
    const home = await init();
    await createDatabase(home);
    const path = join(home, 'security', 'master.key');
    await chmod(path, 0o640);

    const result = await doctor(home);
    expect(result.code).toBe(1);
    const output = parse(result);
    expect(check(output, 'key file mode')).toMatchObject({
      status: 'failed',
      fix: `chmod 600 ${path}`,
    });
    expect(check(output, 'DEKs')?.status).toBe('skipped');
  });

  it('fails an unreachable database', async () => {
    const home = await init();
    const port = await freePort();
    await setServerProperty(
      home,
      'database.url',
      `postgres://strongroom@127.0.0.1:${port}/strongroom`,
    );

    const result = await doctor(home);
    expect(result.code).toBe(1);
    const database = check(parse(result), 'database');
    expect(database).toMatchObject({ status: 'failed', code: 'SR_DB_UNREACHABLE' });
  });

  it('fails DEKs under another key', async () => {
    const home = await init();
    const store = await openStore('sqlite:data/strongroom.db', {
      baseDir: home,
      logger: pino({ level: 'silent' }),
    });
    await store.keys.insertDek({
      id: 'dek-1',
      ref: { provider: 'hsm', keyId: 'old-master-key', kcv: 'a1b2c3' },
      mechanism: 'aes-256-gcm',
      wrapped: Buffer.alloc(60, 1),
    });
    await store.close();

    const result = await doctor(home);
    expect(result.code).toBe(1);
    const deks = check(parse(result), 'DEKs');
    expect(deks).toMatchObject({ status: 'failed', code: 'SR_KEY_PROVIDER_MISMATCH' });
    expect(deks?.message).toContain('1 stored DEK is wrapped by');
  });
});

describe.runIf(hsmReady)('doctor with SoftHSM', () => {
  let fixture: SoftHsmFixture;
  const listeners: Server[] = [];

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey('doctor-key');
    await fixture.generateAuditKey('doctor-key-audit');
  });

  afterAll(async () => {
    await Promise.all(listeners.map((server) => new Promise((resolve) => server.close(resolve))));
    await fixture.cleanup();
  });

  function hsmEnv(extra: NodeJS.ProcessEnv = {}, pin = fixture.userPin): NodeJS.ProcessEnv {
    return {
      SOFTHSM2_CONF: fixture.configPath,
      STRONGROOM_HSM_PIN: pin,
      STRONGROOM_HSM_PIN_FILE: '',
      ...extra,
    };
  }

  async function hsmHome(library = fixture.library, keyLabel = 'doctor-key'): Promise<string> {
    const home = await init([
      '--hsm-library',
      library,
      '--hsm-token-label',
      fixture.tokenLabel,
      '--hsm-key-label',
      keyLabel,
    ]);
    await createDatabase(home);
    return home;
  }

  /** Copies SoftHSM's library under Utimaco's file name, so that the Utimaco checks run on a working module. */
  async function utimacoNamedLibrary(): Promise<string> {
    const path = join(root, `lib-${homeCount}`, 'libcs_pkcs11_R3.so');
    await rm(join(path, '..'), { recursive: true, force: true });
    await mkdir(join(path, '..'), { recursive: true });
    await copyFile(fixture.library, path);
    await chmod(path, 0o755);
    return path;
  }

  function listen(): Promise<number> {
    return new Promise((resolve) => {
      const server = createServer((socket) => socket.destroy());
      listeners.push(server);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  }

  it('passes a healthy HSM home', async () => {
    const home = await hsmHome();
    const result = await doctor(home, hsmEnv());

    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain(fixture.userPin);
    expect(result.stderr).not.toContain(fixture.userPin);
    const output = parse(result);
    expect(output.ok).toBe(true);
    expect(check(output, 'HSM PIN')?.message).toBe('the PIN comes from STRONGROOM_HSM_PIN.');
    for (const name of [
      'PKCS#11 library mode',
      'PKCS#11 library',
      'token',
      'login',
      'HSM master key',
      'DEKs',
    ]) {
      expect(check(output, name)?.status).toBe('ok');
    }
    expect(check(output, 'CS_PKCS11_R3_CFG')).toBeUndefined();
  });

  it('names a sealed PIN as source', async () => {
    const home = await hsmHome();
    const register = await runCli(['hsm', 'register', '--home', home, '--pin-stdin', '--yes'], {
      env: hsmEnv({ STRONGROOM_HSM_PIN: '' }),
      input: `${fixture.userPin}\n`,
    });
    expect(register.code, register.stderr).toBe(0);

    const result = await doctor(home, hsmEnv({ STRONGROOM_HSM_PIN: '' }));
    expect(result.code, result.stdout).toBe(0);
    const message = check(parse(result), 'HSM PIN')?.message;
    expect(message).toContain('sealed');
    expect(message).toContain("'strongroom hsm register'");
    expect(message).not.toContain('STRONGROOM_HSM_PIN');
  });

  it('fails a wrong PIN and skips the key', async () => {
    const home = await hsmHome();
    const result = await doctor(home, hsmEnv({}, 'wrong-pin-2718'));

    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('wrong-pin-2718');
    const output = parse(result);
    expect(check(output, 'token')?.status).toBe('ok');
    expect(check(output, 'login')).toMatchObject({
      status: 'failed',
      code: 'SR_HSM_PIN_INCORRECT',
    });
    expect(check(output, 'HSM master key')?.status).toBe('skipped');
    expect(check(output, 'DEKs')?.status).toBe('skipped');
  });

  it('fails a PIN file others can read', async () => {
    const home = await hsmHome();
    const pinFile = join(root, `pin-${homeCount}`);
    await writeFile(pinFile, `${fixture.userPin}\n`, { mode: 0o644 });
    await chmod(pinFile, 0o644);

    const result = await doctor(home, {
      SOFTHSM2_CONF: fixture.configPath,
      STRONGROOM_HSM_PIN: '',
      STRONGROOM_HSM_PIN_FILE: pinFile,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain(fixture.userPin);
    const output = parse(result);
    expect(check(output, 'HSM PIN')).toMatchObject({
      status: 'failed',
      code: 'SR_HSM_PIN_FILE_PERMISSIONS',
    });
    expect(check(output, 'PKCS#11 library')?.status).toBe('skipped');
    expect(check(output, 'login')?.status).toBe('skipped');
  });

  it('fails a missing master key', async () => {
    const home = await hsmHome(fixture.library, 'absent-key');
    const result = await doctor(home, hsmEnv());
    expect(result.code).toBe(1);
    expect(check(parse(result), 'HSM master key')).toMatchObject({
      status: 'failed',
      code: 'SR_HSM_KEY_NOT_FOUND',
    });
  });

  it('fails a library that is not a PKCS#11 module', async () => {
    const library = join(root, 'not-a-module.so');
    await writeFile(library, 'not a shared object\n', { mode: 0o755 });
    const home = await hsmHome(library);

    const result = await doctor(home, hsmEnv());
    expect(result.code).toBe(1);
    const output = parse(result);
    expect(check(output, 'PKCS#11 library')).toMatchObject({
      status: 'failed',
      code: 'SR_HSM_LIBRARY_LOAD_FAILED',
    });
    expect(check(output, 'token')?.status).toBe('skipped');
  });

  it('fails a shared library without PKCS#11', async () => {
    // zlib loads as a shared object but has no C_GetFunctionList.
    const candidates = [
      '/usr/lib/x86_64-linux-gnu/libz.so.1',
      '/usr/lib/aarch64-linux-gnu/libz.so.1',
    ];
    const zlib = candidates.find((path) => existsSync(path));
    if (zlib === undefined) {
      console.warn('skipping: no libz.so.1 in the usual Debian paths');
      return;
    }
    const home = await hsmHome(zlib);

    const result = await doctor(home, hsmEnv());
    expect(result.code).toBe(1);
    const output = parse(result);
    expect(check(output, 'PKCS#11 library mode')?.status).toBe('ok');
    expect(check(output, 'PKCS#11 library')).toMatchObject({
      status: 'failed',
      code: 'SR_HSM_LIBRARY_LOAD_FAILED',
    });
    expect(check(output, 'HSM master key')?.status).toBe('skipped');
  });

  it('fails a group-writable library', async () => {
    const library = await utimacoNamedLibrary();
    await chmod(library, 0o775);
    const home = await hsmHome(library);

    const result = await doctor(home, hsmEnv({ CS_PKCS11_R3_CFG: '' }));
    expect(result.code).toBe(1);
    expect(check(parse(result), 'PKCS#11 library mode')).toMatchObject({
      status: 'failed',
      fix: `chmod go-w ${library}`,
    });
  });

  it('fails an unset CS_PKCS11_R3_CFG', async () => {
    const home = await hsmHome(await utimacoNamedLibrary());
    const result = await doctor(home, hsmEnv({ CS_PKCS11_R3_CFG: '' }));
    expect(result.code).toBe(1);
    const output = parse(result);
    expect(check(output, 'CS_PKCS11_R3_CFG')).toMatchObject({ status: 'failed' });
    expect(check(output, 'CS_PKCS11_R3_CFG')?.message).toContain('CS_PKCS11_R3_CFG is not set');
    expect(check(output, 'HSM master key')?.status).toBe('ok');
  });

  it('fails an unreadable Utimaco file', async () => {
    const home = await hsmHome(await utimacoNamedLibrary());
    const path = join(root, 'absent.cfg');
    const result = await doctor(home, hsmEnv({ CS_PKCS11_R3_CFG: path }));
    expect(result.code).toBe(1);
    expect(check(parse(result), 'CS_PKCS11_R3_CFG')?.message).toBe(
      `${path} (CS_PKCS11_R3_CFG) cannot be read: ENOENT.`,
    );
  });

  it("fails the guide's malformed device", async () => {
    const home = await hsmHome(await utimacoNamedLibrary());
    const path = join(root, `malformed-${homeCount}.cfg`);
    await writeFile(path, '[Global]\nLogging = 1\n[CryptoServer]\nDevice = 3001T@10.10.10.10\n');

    const result = await doctor(home, hsmEnv({ CS_PKCS11_R3_CFG: path }));
    expect(result.code).toBe(1);
    const entry = check(parse(result), 'CS_PKCS11_R3_CFG');
    expect(entry).toMatchObject({ status: 'failed', code: 'SR_CONFIG_SYNTAX' });
    expect(entry?.message).toContain(
      `${path}:4: key 'Device' has the invalid device '3001T@10.10.10.10'`,
    );
  });

  it('probes each device on loopback', async () => {
    const home = await hsmHome(await utimacoNamedLibrary());
    const open = await listen();
    const closed = await freePort();
    const path = join(root, `devices-${homeCount}.cfg`);
    await writeFile(
      path,
      `[Global]\r\nLogging = 1\r\n[CryptoServer]\r\nDevice = ${open}@127.0.0.1, ${closed}@127.0.0.1\r\n`,
    );

    const result = await doctor(home, hsmEnv({ CS_PKCS11_R3_CFG: path }));
    expect(result.code).toBe(1);
    const output = parse(result);
    expect(check(output, 'CS_PKCS11_R3_CFG')?.status).toBe('ok');
    expect(check(output, `device ${open}@127.0.0.1`)).toMatchObject({
      status: 'ok',
      message: `TCP port ${open} on 127.0.0.1 accepts connections.`,
    });
    expect(check(output, `device ${closed}@127.0.0.1`)).toMatchObject({
      status: 'failed',
      message: `TCP port ${closed} on 127.0.0.1 does not accept connections: ECONNREFUSED.`,
    });
    expect(check(output, 'HSM master key')?.status).toBe('ok');
  });
});
