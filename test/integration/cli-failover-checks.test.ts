import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initSoftHsmToken } from '../../src/keys/hsm/softhsm-setup.js';
import { generateAesKey } from '../../src/keys/hsm/softhsm-keys.js';
import { openStore } from '../../src/store/index.js';
import { runCli, type CliResult } from '../support/cli.js';
import { generateAuditKeyDirect } from '../support/softhsm-direct.js';
import {
  copyTokenFolder,
  findTokenFolder,
  removeTokenFolder,
  type TokenFolder,
} from '../support/softhsm-copy.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const KEY_LABEL = 'failover-key';

interface CheckJson {
  name: string;
  status: string;
  message: string;
  code?: string;
}

interface DoctorJson {
  ok: boolean;
  checks: CheckJson[];
}

interface VerifyJson {
  ok: boolean;
  members: Array<{ name: string; error?: { code: string } }>;
  checks: CheckJson[];
}

/** Returns the checks whose name contains `part`, such as 'standby 1'. */
function checksNamed(checks: CheckJson[], part: string): CheckJson[] {
  return checks.filter((entry) => entry.name.includes(part));
}

describe.runIf(softHsmAvailable())('doctor and hsm verify with failover members', () => {
  let root: string;
  let fixture: SoftHsmFixture;
  let primaryFolder: TokenFolder;
  /** Slot IDs of the standby candidates: a copy of the primary, a token without keys, other keys. */
  const slots = { copy: 0, empty: 0, otherKey: 0 };
  let env: NodeJS.ProcessEnv;
  let homeCount = 0;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strongroom-failover-checks-'));
    fixture = await createSoftHsmFixture({ tokenLabel: 'failover-primary' });
    await fixture.generateKey(KEY_LABEL);
    await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
    primaryFolder = await findTokenFolder(fixture, fixture.slotId);
    slots.copy = (await copyTokenFolder(fixture, primaryFolder)).slotId;

    const token = {
      configPath: fixture.configPath,
      soPin: 'so-pin-0042',
      userPin: fixture.userPin,
    };
    slots.empty = (await initSoftHsmToken({ ...token, label: 'failover-empty' })).slotId;
    slots.otherKey = (await initSoftHsmToken({ ...token, label: 'failover-other' })).slotId;
    const otherToken = {
      configPath: fixture.configPath,
      library: fixture.library,
      tokenLabel: 'failover-other',
      userPin: fixture.userPin,
    };
    // A key generated anew with the same label has another key check value.
    await generateAesKey({ ...otherToken, keyLabel: KEY_LABEL });
    await generateAuditKeyDirect({ ...otherToken, keyLabel: `${KEY_LABEL}-audit` });

    env = {
      SOFTHSM2_CONF: fixture.configPath,
      STRONGROOM_HSM_PIN: fixture.userPin,
      STRONGROOM_HSM_PIN_FILE: '',
    };
  }, 60_000);

  afterAll(async () => {
    await fixture.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  /** Creates a home whose primary is the fixture's slot and whose one standby is `standbySlot`. */
  async function failoverHome(standbySlot: number): Promise<string> {
    homeCount += 1;
    const home = join(root, `home-${homeCount}`);
    const init = await runCli([
      'init',
      '--home',
      home,
      '--hsm-library',
      fixture.library,
      '--hsm-token-label',
      fixture.tokenLabel,
      '--hsm-key-label',
      KEY_LABEL,
    ]);
    expect(init.code, init.stderr).toBe(0);

    // The copy has the primary's token label, so each provider file selects its slot by ID.
    const hsmDir = join(home, 'security', 'hsm');
    await writeFile(
      join(hsmDir, 'pkcs11.conf'),
      `name = primary\nlibrary = ${fixture.library}\nslot = ${fixture.slotId}\n`,
    );
    await writeFile(
      join(hsmDir, 'standby.conf'),
      `name = standby\nlibrary = ${fixture.library}\nslot = ${standbySlot}\n`,
    );
    await appendFile(
      join(home, 'security', 'security.properties'),
      'strongroom.hsm.failover.configPaths = hsm/standby.conf\n',
    );
    const store = await openStore('sqlite:data/strongroom.db', {
      baseDir: home,
      logger: pino({ level: 'silent' }),
    });
    await store.close();
    return home;
  }

  function doctor(home: string): Promise<CliResult> {
    return runCli(['doctor', '--home', home, '--json'], { env });
  }

  function verify(home: string, json = true): Promise<CliResult> {
    return runCli(['hsm', 'verify', '--home', home, ...(json ? ['--json'] : [])], { env });
  }

  it('doctor passes a standby with a copy', async () => {
    const home = await failoverHome(slots.copy);
    const result = await doctor(home);

    expect(result.code, result.stdout).toBe(0);
    const output = JSON.parse(result.stdout) as DoctorJson;
    expect(checksNamed(output.checks, 'HSM member primary')[0]?.status).toBe('ok');
    const standby = checksNamed(output.checks, 'HSM member standby 1')[0];
    expect(standby?.status).toBe('ok');
    expect(standby?.name).toContain(join(home, 'security', 'hsm', 'standby.conf'));
    expect(standby?.name).toContain(`slot ID ${slots.copy}`);
    expect(checksNamed(output.checks, 'HSM failover group')[0]?.status).toBe('ok');
    expect(checksNamed(output.checks, 'HSM audit checkpoint key')[0]?.status).toBe('ok');
    expect(checksNamed(output.checks, 'DEKs')[0]?.status).toBe('ok');
    expect(result.stdout).not.toContain(fixture.userPin);
  });

  it('doctor fails a standby without key', async () => {
    const home = await failoverHome(slots.empty);
    const result = await doctor(home);

    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as DoctorJson;
    expect(checksNamed(output.checks, 'HSM member primary')[0]?.status).toBe('ok');
    const standby = checksNamed(output.checks, 'HSM member standby 1')[0];
    expect(standby?.status).toBe('failed');
    expect(standby?.code).toBe('SR_HSM_KEY_NOT_FOUND');
    expect(standby?.name).toContain(`slot ID ${slots.empty}`);
    expect(standby?.message).toContain('copy of the same master key');
    expect(standby?.message).not.toContain('generate the key');
    expect(checksNamed(output.checks, 'HSM failover group')[0]?.status).toBe('failed');
  });

  it('hsm verify fails a standby without key', async () => {
    const home = await failoverHome(slots.empty);
    const result = await verify(home);

    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as VerifyJson;
    expect(output.ok).toBe(false);
    expect(output.members.map((member) => member.name)).toHaveLength(2);
    const standby = checksNamed(output.checks, 'HSM member standby 1')[0];
    expect(standby?.code).toBe('SR_HSM_KEY_NOT_FOUND');
    expect(result.stdout).not.toContain(fixture.userPin);
  });

  it('doctor reports different keys', async () => {
    const home = await failoverHome(slots.otherKey);
    const result = await doctor(home);

    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as DoctorJson;
    const standby = checksNamed(output.checks, 'HSM member standby 1')[0];
    expect(standby?.status).toBe('failed');
    expect(standby?.code).toBe('SR_HSM_FAILOVER_KEY_MISMATCH');
    expect(standby?.message).toContain('key check value');
  });

  it('hsm verify reports different keys', async () => {
    const home = await failoverHome(slots.otherKey);
    const result = await verify(home, false);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain('HSM member standby 1');
    expect(result.stdout).toContain('SR_HSM_FAILOVER_KEY_MISMATCH');
  });

  it('warns while the primary is removed', async () => {
    const home = await failoverHome(slots.copy);
    const restore = await removeTokenFolder(fixture, primaryFolder);
    try {
      const doctorResult = await doctor(home);
      expect(doctorResult.code, doctorResult.stdout).toBe(0);
      const output = JSON.parse(doctorResult.stdout) as DoctorJson;
      expect(checksNamed(output.checks, 'HSM member primary')[0]?.status).toBe('warning');
      expect(checksNamed(output.checks, 'HSM member standby 1')[0]?.status).toBe('ok');
      const group = checksNamed(output.checks, 'HSM failover group')[0];
      expect(group?.status).toBe('warning');
      expect(group?.message).toContain('standby 1');
      expect(checksNamed(output.checks, 'DEKs')[0]?.status).toBe('ok');

      const verifyResult = await verify(home);
      expect(verifyResult.code, verifyResult.stdout).toBe(0);
      const verifyOutput = JSON.parse(verifyResult.stdout) as VerifyJson;
      expect(verifyOutput.members[0]?.error?.code).toBe('SR_HSM_SLOT_NOT_FOUND');
    } finally {
      await restore();
    }
  });
});
