import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initHome } from '../../src/config/init-home.js';
import { loadConfig } from '../../src/config/load.js';
import { StrongroomError } from '../../src/errors.js';

let home: string;
let securityProperties: string;

const hsm = {
  // Any existing absolute path will do: init checks that the library exists, not what it is.
  library: process.execPath,
  tokenLabel: 'pam',
  keyLabel: 'pam-master-key',
};

beforeEach(async () => {
  home = join(await mkdtemp(join(tmpdir(), 'strongroom-failover-config-')), 'home');
  await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm });
  securityProperties = join(home, 'security', 'security.properties');
});

afterEach(async () => {
  await rm(join(home, '..'), { recursive: true, force: true });
});

async function writeMember(name: string, body: string): Promise<string> {
  const path = join(home, 'security', 'hsm', name);
  await writeFile(path, body);
  return path;
}

async function setSecurity(lines: string[]): Promise<void> {
  await appendFile(securityProperties, `${lines.join('\n')}\n`);
}

async function loadError(): Promise<StrongroomError> {
  try {
    await loadConfig(home);
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('loadConfig succeeded');
}

describe('HSM failover settings', () => {
  it('has no failover group by default', async () => {
    const config = await loadConfig(home);
    expect(config.hsm?.failover).toBeUndefined();
    expect(config.warnings).toEqual([]);
  });

  it('reads standby members in order', async () => {
    await writeMember('standby.conf', `library = ${process.execPath}\nslot = 7\n`);
    const second = await writeMember(
      'standby-2.conf',
      `name = far\nlibrary = ${process.execPath}\nslotListIndex = 3\n`,
    );
    await setSecurity([
      `strongroom.hsm.failover.configPaths = hsm/standby.conf, ${second}`,
      'strongroom.hsm.failover.retryPrimarySeconds = 15',
    ]);

    const config = await loadConfig(home);
    const failover = config.hsm?.failover;
    expect(failover?.retryPrimarySeconds).toBe(15);
    expect(failover?.standbys.map((file) => file.slot)).toEqual([
      { by: 'id', id: 7 },
      { by: 'index', index: 3 },
    ]);
    expect(failover?.standbys[0]?.path).toBe(join(home, 'security', 'hsm', 'standby.conf'));
    expect(config.warnings).toEqual([]);
  });

  it('defaults the primary retry to 60 seconds', async () => {
    await writeMember('standby.conf', `library = ${process.execPath}\nslot = 7\n`);
    await setSecurity(['strongroom.hsm.failover.configPaths = hsm/standby.conf']);
    expect((await loadConfig(home)).hsm?.failover?.retryPrimarySeconds).toBe(60);
  });

  it('rejects a missing member file', async () => {
    await setSecurity(['strongroom.hsm.failover.configPaths = hsm/missing.conf']);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_FILE_MISSING');
    expect(error.message).toContain(join(home, 'security', 'hsm', 'missing.conf'));
    expect(error.message).toContain('strongroom.hsm.failover.configPaths');
    expect(error.message).toContain('ENOENT');
  });

  it('rejects an empty list entry', async () => {
    await writeMember('standby.conf', `library = ${process.execPath}\nslot = 7\n`);
    await setSecurity(['strongroom.hsm.failover.configPaths = hsm/standby.conf,,']);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain("'hsm/standby.conf,,', which has an empty entry");
  });

  it('rejects a member file with a syntax error', async () => {
    await writeMember('standby.conf', `library = ${process.execPath}\nslots = 7\n`);
    await setSecurity(['strongroom.hsm.failover.configPaths = hsm/standby.conf']);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_SYNTAX');
    expect(error.message).toContain("standby.conf:2: unknown keyword 'slots'");
  });

  it('rejects a member that selects the primary slot', async () => {
    await writeMember('twin.conf', `library = ${process.execPath}\ntokenLabel = pam\n`);
    await setSecurity(['strongroom.hsm.failover.configPaths = hsm/twin.conf']);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain("selects token 'pam'");
    expect(error.message).toContain('Each member must select a slot of its own');
  });

  it('rejects the primary file listed as a standby', async () => {
    const text = await readFile(securityProperties, 'utf8');
    const primary = /hsm\.provider\.configPath\s*=\s*(\S+)/.exec(text)?.[1] ?? '';
    await setSecurity([`strongroom.hsm.failover.configPaths = ${primary}`]);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain('Each member must select a slot of its own');
  });

  it.each(['0', '-5', '1.5', 'soon', '86401'])('rejects retryPrimarySeconds %s', async (value) => {
    await setSecurity([`strongroom.hsm.failover.retryPrimarySeconds = ${value}`]);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain(
      `strongroom.hsm.failover.retryPrimarySeconds is '${value}'; expected an integer from 1 to 86400`,
    );
  });

  it('rejects standbys without a primary', async () => {
    await writeMember('standby.conf', `library = ${process.execPath}\nslot = 7\n`);
    const text = await readFile(securityProperties, 'utf8');
    await writeFile(
      securityProperties,
      text
        .split('\n')
        .filter((line) => !line.startsWith('hsm.provider.configPath'))
        .join('\n')
        .replace('kron.crypto.keyProvider = hsm', 'kron.crypto.keyProvider = file'),
    );
    await setSecurity(['strongroom.hsm.failover.configPaths = hsm/standby.conf']);
    const error = await loadError();
    expect(error.code).toBe('SR_CONFIG_KEY_MISSING');
    expect(error.message).toContain(
      'lists standby members, but hsm.provider.configPath is not set',
    );
  });
});
