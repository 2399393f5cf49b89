import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initHome } from '../../src/config/init-home.js';
import { loadConfig } from '../../src/config/load.js';
import { parseListenAddress, isLoopback } from '../../src/config/listen-address.js';
import { readHsmPin } from '../../src/keys/hsm-pin.js';
import { StrongroomError } from '../../src/errors.js';

let home: string;

beforeEach(async () => {
  home = join(await mkdtemp(join(tmpdir(), 'strongroom-config-')), 'home');
});

afterEach(async () => {
  await rm(join(home, '..'), { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<StrongroomError> {
  try {
    await promise;
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected a rejection');
}

const hsm = {
  // Any existing absolute path will do: init checks that the library exists, not what it is.
  library: process.execPath,
  tokenLabel: 'pam',
  keyLabel: 'pam-master-key',
};

describe('init and load', () => {
  it('writes a file-key home that loads back', async () => {
    await initHome({
      home,
      databaseUrl: 'sqlite:data/strongroom.db',
      listen: '127.0.0.1:9000',
      hsm: undefined,
    });
    const config = await loadConfig(home);

    expect(config.activeProvider).toBe('file');
    expect(config.databaseUrl).toBe('sqlite:data/strongroom.db');
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(config.hsm).toBeUndefined();
    expect((await stat(config.keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(config.layout.securityProperties)).mode & 0o777).toBe(0o600);
    expect((await stat(config.layout.securityDir)).mode & 0o777).toBe(0o700);
  });

  it('writes an HSM home that loads back', async () => {
    await initHome({
      home,
      databaseUrl: 'postgres://strongroom@127.0.0.1:5432/vault',
      listen: '[::1]:8080',
      hsm,
    });
    const config = await loadConfig(home);

    expect(config.activeProvider).toBe('hsm');
    expect(config.hsm?.keyLabel).toBe('pam-master-key');
    expect(config.hsm?.providerFile.library).toBe(hsm.library);
    expect(config.hsm?.providerFile.slot).toEqual({ by: 'tokenLabel', label: 'pam' });
    expect(config.listen).toEqual({ host: '::1', port: 8080 });
    const security = await readFile(config.layout.securityProperties, 'utf8');
    expect(security).toContain('hsm.provider.classname = sun.security.pkcs11.SunPKCS11');
    expect(config.hsm?.keyWrap).toBe('token');
  });

  it('reads strongroom.hsm.keyWrap', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm });
    const path = join(home, 'security', 'security.properties');
    await writeFile(path, `${await readFile(path, 'utf8')}strongroom.hsm.keyWrap = ecb-rfc3394\n`);

    const config = await loadConfig(home);

    expect(config.hsm?.keyWrap).toBe('ecb-rfc3394');
    expect(config.warnings).toEqual([]);
  });

  it('reads strongroom.hsm.batchProcesses', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm });
    const defaults = await loadConfig(home);
    const path = join(home, 'security', 'security.properties');
    await writeFile(path, `${await readFile(path, 'utf8')}strongroom.hsm.batchProcesses = 0\n`);

    const config = await loadConfig(home);

    expect(defaults.hsm?.batchProcesses).toBe(Math.min(4, availableParallelism()));
    expect(config.hsm?.batchProcesses).toBe(0);
    expect(config.warnings).toEqual([]);
  });

  it('refuses to write over an existing home', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm: undefined });
    const keyBefore = await readFile(join(home, 'security', 'master.key'));
    const error = await rejection(
      initHome({ home, databaseUrl: 'sqlite:b.db', listen: '127.0.0.1:1', hsm: undefined }),
    );
    expect(error.code).toBe('SR_CONFIG_HOME_NOT_EMPTY');
    expect(await readFile(join(home, 'security', 'master.key'))).toEqual(keyBefore);
  });

  it('rejects a library path that does not exist', async () => {
    const error = await rejection(
      initHome({
        home,
        databaseUrl: 'sqlite:a.db',
        listen: '127.0.0.1:1',
        hsm: { ...hsm, library: '/nonexistent/libpkcs11.so' },
      }),
    );
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain('--hsm-library /nonexistent/libpkcs11.so does not exist');
  });

  it('refuses a key label with a trailing blank', async () => {
    const error = await rejection(
      initHome({
        home,
        databaseUrl: 'sqlite:a.db',
        listen: '127.0.0.1:1',
        hsm: { ...hsm, keyLabel: 'pam ' },
      }),
    );
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain("--hsm-key-label 'pam '");
  });

  it('keeps a trailing blank of hsm.keystore.alias for the key lookup to report', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm });
    const path = join(home, 'security', 'security.properties');
    await writeFile(
      path,
      (await readFile(path, 'utf8')).replace('alias = pam-master-key', 'alias = pam-master-key '),
    );
    expect((await loadConfig(home)).hsm?.keyLabel).toBe('pam-master-key ');
  });

  it('warns about unknown and repeated keys', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:9', hsm: undefined });
    const path = join(home, 'strongroom.properties');
    await writeFile(
      path,
      `${await readFile(path, 'utf8')}server.lisen = 0.0.0.0:80\ndatabase.url = sqlite:b.db\n`,
    );

    const config = await loadConfig(home);
    expect(config.databaseUrl).toBe('sqlite:b.db');
    expect(config.warnings).toHaveLength(2);
    expect(config.warnings[0]).toContain('server.lisen is not a Strongroom setting');
    expect(config.warnings[1]).toMatch(/database\.url is also set on line \d+; line \d+ wins/);
  });

  it('reads the console idle timeout', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:9', hsm: undefined });
    expect((await loadConfig(home)).consoleIdleSeconds).toBe(900);

    const path = join(home, 'strongroom.properties');
    await writeFile(path, `${await readFile(path, 'utf8')}server.console.idleSeconds = 300\n`);
    const config = await loadConfig(home);

    expect(config.consoleIdleSeconds).toBe(300);
    expect(config.warnings).toEqual([]);
  });

  it('rejects a console idle timeout under a minute', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:9', hsm: undefined });
    const path = join(home, 'strongroom.properties');
    await writeFile(path, `${await readFile(path, 'utf8')}server.console.idleSeconds = 5\n`);

    const error = await rejection(loadConfig(home));
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain('server.console.idleSeconds');
  });

  it('has no warnings for a new home', async () => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:9', hsm });
    expect((await loadConfig(home)).warnings).toEqual([]);
  });

  it('reports a missing home with the init command', async () => {
    const error = await rejection(loadConfig(home));
    expect(error.code).toBe('SR_CONFIG_HOME_MISSING');
    expect(error.message).toContain(`strongroom init --home ${home}`);
  });

  it('reports a missing properties file with the init command', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(home);
    const error = await rejection(loadConfig(home));
    expect(error.code).toBe('SR_CONFIG_FILE_MISSING');
    expect(error.message).toContain('strongroom.properties does not exist');
    expect(error.message).toContain('strongroom init');
  });

  it.each([
    [
      'kron.crypto.keyProvider = vault',
      'SR_CONFIG_VALUE_INVALID',
      "kron.crypto.keyProvider is 'vault'; expected one of file, hsm",
    ],
    [
      'kron.crypto.keyProvider = hsm',
      'SR_CONFIG_KEY_MISSING',
      'hsm.provider.configPath is not set',
    ],
    ['strongroom.hsm.poolSize = 0', 'SR_CONFIG_VALUE_INVALID', 'expected an integer from 1 to 64'],
    [
      'strongroom.hsm.batchProcesses = -1',
      'SR_CONFIG_VALUE_INVALID',
      'expected an integer from 0 to 64',
    ],
    [
      'strongroom.hsm.batchProcesses = two',
      'SR_CONFIG_VALUE_INVALID',
      'expected an integer from 0 to 64',
    ],
    [
      'strongroom.hsm.keyWrap = ecb',
      'SR_CONFIG_VALUE_INVALID',
      "strongroom.hsm.keyWrap is 'ecb'; expected one of token, ecb-rfc3394",
    ],
  ])('rejects security.properties with %j', async (line, code, message) => {
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm: undefined });
    const path = join(home, 'security', 'security.properties');
    await writeFile(path, `${await readFile(path, 'utf8')}${line}\n`);
    const error = await rejection(loadConfig(home));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
    expect(error.message).toContain('security.properties');
  });
});

describe('listen address', () => {
  it.each(['localhost:80', '127.0.0.1:8080', '[::1]:1'])('accepts %s', (value) => {
    expect(() => parseListenAddress(value, 'x')).not.toThrow();
  });

  it('names a port out of range', () => {
    expect(() => parseListenAddress('127.0.0.1:99999', 'strongroom.properties')).toThrow(
      'server.listen port 99999 is out of range; use a port from 0 to 65535.',
    );
  });

  it.each(['8080', '127.0.0.1', '[localhost]:1', ':80'])('rejects %s', (value) => {
    expect(() => parseListenAddress(value, 'strongroom.properties')).toThrow(
      /expected host:port|not an IPv6/,
    );
  });

  it('tells loopback apart', () => {
    expect(['127.0.0.1', '127.9.9.9', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.org'].some(isLoopback)).toBe(false);
  });
});

describe('HSM PIN', () => {
  it('comes from the file, without its line break', async () => {
    const file = join(home, '..', 'pin');
    await writeFile(file, '1234\n', { mode: 0o600 });
    expect(await readHsmPin({ STRONGROOM_HSM_PIN_FILE: file })).toBe('1234');
  });

  it('comes from STRONGROOM_HSM_PIN', async () => {
    expect(await readHsmPin({ STRONGROOM_HSM_PIN: '9999', STRONGROOM_HSM_PIN_FILE: '' })).toBe(
      '9999',
    );
  });

  it('rejects both sources at once', async () => {
    const error = await rejection(
      readHsmPin({ STRONGROOM_HSM_PIN: '9999', STRONGROOM_HSM_PIN_FILE: '/nonexistent' }),
    );
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain('Unset one of them');
    expect(error.message).not.toContain('9999');
  });

  it('rejects a PIN file others can read', async () => {
    const file = join(home, '..', 'pin');
    await writeFile(file, '1234\n', { mode: 0o644 });
    const error = await rejection(readHsmPin({ STRONGROOM_HSM_PIN_FILE: file }));
    expect(error.code).toBe('SR_HSM_PIN_FILE_PERMISSIONS');
    expect(error.message).toContain(`chmod 600 ${file}`);
    expect(error.message).not.toContain('1234');
  });

  it('names both variables when missing', async () => {
    const error = await rejection(readHsmPin({}));
    expect(error.code).toBe('SR_HSM_PIN_MISSING');
    expect(error.message).toContain('STRONGROOM_HSM_PIN_FILE');
  });
});
