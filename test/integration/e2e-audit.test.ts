import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ChainReport } from '../../src/audit/chain/report.js';
import { freePort, runCli, startServe } from '../support/cli.js';
import { hsmEnvironment } from '../support/homes.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const hsmReady = softHsmAvailable();
const ADMIN_PASSWORD = `admin-${randomBytes(9).toString('base64url')}`;
const KEY_LABEL = 'pam-master-key';
const LOGINS = 5;

describe.runIf(hsmReady)('service audit chain with an HSM', () => {
  let fixture: SoftHsmFixture;
  let root: string;
  let home: string;
  let baseUrl: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey(KEY_LABEL);
    root = await mkdtemp(join(tmpdir(), 'strongroom-e2e-audit-'));
    home = join(root, 'home');
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = await hsmEnvironment(root, fixture);

    const init = await runCli([
      'init',
      '--home',
      home,
      '--listen',
      `127.0.0.1:${port}`,
      '--hsm-library',
      fixture.library,
      '--hsm-token-label',
      fixture.tokenLabel,
      '--hsm-key-label',
      KEY_LABEL,
    ]);
    expect(init.code).toBe(0);
    await mkdir(join(home, 'data'), { recursive: true });
    await appendFile(
      join(home, 'strongroom.properties'),
      'audit.checkpoint.events = 2\naudit.checkpoint.seconds = 0\n',
    );
    const user = await runCli(['user', 'add', '--home', home, '--username', 'admin'], {
      input: `${ADMIN_PASSWORD}\n`,
    });
    expect(user.code).toBe(0);
  });

  afterAll(async () => {
    await fixture?.cleanup();
    await rm(root, { recursive: true, force: true });
  });

  it('serve names the missing audit key', async () => {
    const result = await runCli(['serve', '--home', home], { env });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_AUDIT_KEY_NOT_FOUND');
    expect(result.stderr).toContain(`'${KEY_LABEL}-audit'`);
    expect(result.stderr).toContain('strongroom hsm keygen --audit');
    expect(result.stderr).not.toContain(fixture.userPin);
  });

  it('checkpoints logins and verifies', async () => {
    const keygen = await runCli(['hsm', 'keygen', '--home', home, '--audit', '--yes'], { env });
    expect(keygen.code).toBe(0);
    expect(keygen.stdout).toContain(`Generated audit checkpoint key '${KEY_LABEL}-audit'`);

    const service = await startServe(home, baseUrl, env);
    try {
      for (let attempt = 0; attempt < LOGINS; attempt += 1) {
        const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
        });
        expect(response.status).toBe(200);
      }
    } finally {
      await service.stop();
    }

    const verify = await runCli(['audit', 'verify', '--home', home, '--json'], { env });
    expect(verify.code).toBe(0);
    const report = JSON.parse(verify.stdout) as ChainReport;
    expect(report.intact).toBe(true);
    expect(report.lastEventSeq).toBeGreaterThanOrEqual(LOGINS);
    expect(report.checkpointCount).toBeGreaterThanOrEqual(2);
    expect(report.lastCheckpoint).toMatchObject({
      provider: 'hsm',
      keyId: `${KEY_LABEL}-audit`,
      algorithm: 'hmac-sha256',
      macValid: true,
    });
  });

  it('verify names a changed event', async () => {
    const database = new Database(join(home, 'data', 'strongroom.db'));
    database.prepare(`update audit_events set client_address = '10.9.9.9' where seq = 2`).run();
    database.close();

    const verify = await runCli(['audit', 'verify', '--home', home, '--json'], { env });

    expect(verify.code).toBe(1);
    const report = JSON.parse(verify.stdout) as ChainReport;
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'changed', seq: 2 })]);
  });
});
