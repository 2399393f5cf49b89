import { randomBytes } from 'node:crypto';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, startServe, type ServiceProcess } from '../support/cli.js';
import { describeEachDialect } from '../support/databases.js';
import { hsmEnvironment } from '../support/homes.js';
import { sampleValue } from '../support/metrics.js';
import {
  copyTokenFolder,
  findTokenFolder,
  removeTokenFolder,
  type TokenFolder,
} from '../support/softhsm-copy.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';
import {
  addWorkflowUsers,
  grantRevealAccess,
  startWorkflowSessions,
  workflowPasswords,
  type WorkflowSessions,
} from '../support/workflow-people.js';

const KEY_LABEL = 'pam-master-key';
const ACCOUNTS = 5;

describe.runIf(softHsmAvailable())('strongroom serve with an HSM failover group', () => {
  describeEachDialect('two SoftHSM slots', (context) => {
    const passwords = workflowPasswords();
    const secrets = new Map<string, string>();
    let fixture: SoftHsmFixture;
    let primaryFolder: TokenFolder;
    let home: string;
    let baseUrl: string;
    let env: NodeJS.ProcessEnv;
    let service: ServiceProcess | undefined;
    let sessions: WorkflowSessions;

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: `failover-${context.dialect}` });
      await fixture.generateKey(KEY_LABEL);
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
      primaryFolder = await findTokenFolder(fixture, fixture.slotId);
      const standbyFolder = await copyTokenFolder(fixture, primaryFolder);

      home = join(context.baseDir, 'home');
      const databaseUrl =
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
      expect(init.code, init.stderr).toBe(0);

      // Both tokens have the same label, so each provider file selects its slot by ID.
      const hsmDir = join(home, 'security', 'hsm');
      await writeFile(
        join(hsmDir, 'pkcs11.conf'),
        `name = primary\nlibrary = ${fixture.library}\nslot = ${fixture.slotId}\n`,
      );
      await writeFile(
        join(hsmDir, 'standby.conf'),
        `name = standby\nlibrary = ${fixture.library}\nslot = ${standbyFolder.slotId}\n`,
      );
      await appendFile(
        join(home, 'security', 'security.properties'),
        'strongroom.hsm.failover.configPaths = hsm/standby.conf\n' +
          'strongroom.hsm.failover.retryPrimarySeconds = 1\n' +
          'strongroom.dekCache.maxEntries = 0\n',
      );
      await addWorkflowUsers(home, passwords);

      service = await startServe(home, baseUrl, env);
      sessions = await startWorkflowSessions(baseUrl, passwords);
      const target = await sessions.call('POST', '/api/v1/targets', {
        token: sessions.parties.admin,
        body: { name: 'db01', address: 'db01.example.internal' },
      });
      expect(target.status).toBe(201);
      const targetId = String(target.json.id);
      for (let index = 0; index < ACCOUNTS; index += 1) {
        const secret = `root-${randomBytes(12).toString('hex')}`;
        const account = await sessions.call('POST', `/api/v1/targets/${targetId}/accounts`, {
          token: sessions.parties.admin,
          body: { username: `user${index}`, secret },
        });
        expect(account.status).toBe(201);
        secrets.set(String(account.json.id), secret);
      }
      await grantRevealAccess(sessions, targetId, secrets.keys());
      await service.stop();
      service = undefined;
    }, 120_000);

    afterAll(async () => {
      await service?.stop();
      await fixture?.cleanup();
    });

    async function revealAll(): Promise<void> {
      for (const [accountId, secret] of secrets) {
        const reply = await sessions.call('POST', `/api/v1/accounts/${accountId}/reveal`, {
          token: sessions.parties.operator,
          body: { reason: 'failover test' },
        });
        expect(reply.status, JSON.stringify(reply.json)).toBe(200);
        expect(reply.json.secret).toBe(secret);
      }
    }

    async function scrape(): Promise<string> {
      const response = await fetch(`${baseUrl}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    }

    it('serves from the primary when both members work', async () => {
      service = await startServe(home, baseUrl, env);
      try {
        await revealAll();
        const metrics = await scrape();
        expect(sampleValue(metrics, 'strongroom_hsm_active_member')).toBe(0);
        expect(sampleValue(metrics, 'strongroom_hsm_failovers_total')).toBe(0);
      } finally {
        await service.stop();
        service = undefined;
      }
    });

    it('starts on the standby when the primary token is gone', async () => {
      const restore = await removeTokenFolder(fixture, primaryFolder);
      try {
        service = await startServe(home, baseUrl, env);
        await revealAll();
        const metrics = await scrape();
        expect(sampleValue(metrics, 'strongroom_hsm_active_member')).toBe(1);
        expect(service.output()).toContain('unreachable at start-up');
        expect(service.output()).not.toContain(fixture.userPin);
        await service.stop();
        service = undefined;

        // The checkpoints written while the standby served were made with its copy of the audit
        // key, and `audit verify` checks them on the standby too, since the primary is still gone.
        const verify = await runCli(['audit', 'verify', '--home', home, '--json'], { env });
        expect(verify.code, verify.stderr).toBe(0);
        const report = JSON.parse(verify.stdout) as {
          intact: boolean;
          lastCheckpoint: { provider: string; macValid: boolean } | undefined;
        };
        expect(report.intact).toBe(true);
        expect(report.lastCheckpoint).toMatchObject({ provider: 'hsm', macValid: true });
      } finally {
        await service?.stop();
        service = undefined;
        await restore();
      }
    });
  });
});
