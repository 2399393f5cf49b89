import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { initHome } from '../../src/config/init-home.js';
import { loadConfig } from '../../src/config/load.js';
import { isStrongroomError } from '../../src/errors.js';

const hsm = { library: process.execPath, tokenLabel: 'pam', keyLabel: 'pam-master-key' };

describe('audit settings', () => {
  let home: string;

  beforeEach(async () => {
    home = join(await mkdtemp(join(tmpdir(), 'strongroom-config-audit-')), 'home');
    await initHome({ home, databaseUrl: 'sqlite:a.db', listen: '127.0.0.1:1', hsm });
  });

  afterEach(async () => {
    await rm(join(home, '..'), { recursive: true, force: true });
  });

  async function loadError() {
    const error = await loadConfig(home).catch((caught: unknown) => caught);
    if (!isStrongroomError(error)) {
      throw new Error(`expected a StrongroomError, got ${String(error)}`);
    }
    return error;
  }

  it('defaults for a new home', async () => {
    const config = await loadConfig(home);

    expect(config.auditCheckpoint).toEqual({ events: 100, seconds: 60 });
    expect(config.hsm?.auditKeyLabel).toBe('pam-master-key-audit');
    expect(config.warnings).toEqual([]);
  });

  it('reads the checkpoint intervals', async () => {
    await appendFile(
      join(home, 'strongroom.properties'),
      'audit.checkpoint.events = 5000\naudit.checkpoint.seconds = 0\n',
    );

    expect((await loadConfig(home)).auditCheckpoint).toEqual({ events: 5000, seconds: 0 });
  });

  it.each([
    ['audit.checkpoint.events', '0', 'from 1 to 1000000'],
    ['audit.checkpoint.events', 'ten', 'from 1 to 1000000'],
    ['audit.checkpoint.seconds', '86401', 'from 0 to 86400'],
  ])('rejects %s = %s', async (key, value, range) => {
    await appendFile(join(home, 'strongroom.properties'), `${key} = ${value}\n`);

    const error = await loadError();

    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain(`${key} is '${value}'; expected an integer ${range}`);
  });

  it('reads the audit key label', async () => {
    await appendFile(
      join(home, 'security', 'security.properties'),
      'strongroom.audit.keyLabel = checkpoints-2027\n',
    );

    expect((await loadConfig(home)).hsm?.auditKeyLabel).toBe('checkpoints-2027');
  });

  it('rejects the master key label', async () => {
    await appendFile(
      join(home, 'security', 'security.properties'),
      'strongroom.audit.keyLabel = pam-master-key\n',
    );

    const error = await loadError();

    expect(error.code).toBe('SR_CONFIG_VALUE_INVALID');
    expect(error.message).toContain("strongroom.audit.keyLabel is 'pam-master-key'");
    expect(error.message).toContain('must be a key of its own');
  });
});

describe('file checkpoint key', () => {
  it('is derived with HKDF and its own info', async () => {
    const { deriveCheckpointKey } = await import('../../src/keys/file/checkpoint-key.js');
    const { createHmac } = await import('node:crypto');
    const masterKey = Buffer.alloc(32, 7);

    const derived = deriveCheckpointKey(masterKey);

    // RFC 5869 by hand: PRK = HMAC(salt = 32 zero bytes, IKM), T(1) = HMAC(PRK, info || 0x01).
    const prk = createHmac('sha256', Buffer.alloc(32)).update(masterKey).digest();
    const expected = createHmac('sha256', prk)
      .update(Buffer.concat([Buffer.from('strongroom/audit-checkpoint-key/v1'), Buffer.from([1])]))
      .digest();
    expect(derived).toEqual(expected);
    expect(derived).not.toEqual(masterKey);
  });
});
