import { randomBytes } from 'node:crypto';
import { appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSoftHsmConfig } from '../../src/keys/hsm/softhsm-setup.js';
import { freePort, runCli, startServe, type ServiceProcess } from '../support/cli.js';
import { describeEachDialect } from '../support/databases.js';
import { hsmEnvironment } from '../support/homes.js';
import { sampleValue } from '../support/metrics.js';
import { p11KitAvailable, startP11KitServer, type P11KitServer } from '../support/p11kit-server.js';
import { findTokenFolder } from '../support/softhsm-copy.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';
import {
  addWorkflowUsers,
  grantRevealAccess,
  startWorkflowSessions,
  workflowPasswords,
  type WorkflowSessions,
} from '../support/workflow-people.js';

const KEY_LABEL = 'pam-master-key';
const ACCOUNTS = 10;
/** Reveal callers that run at once during the outage. */
const CALLERS = 4;

interface RevealOutcome {
  status: number;
  code: string | undefined;
  correct: boolean;
}

// The primary member is a network HSM stand-in: p11-kit server in front of one SoftHSM token,
// reached through p11-kit-client.so. The standby is a copy of that token in a second SoftHSM
// tokendir, loaded directly. One process cannot reach two stand-ins, because p11-kit 0.24 skips
// user module files for root and p11-kit-client.so reads one P11_KIT_SERVER_ADDRESS. Both members
// wrap with RFC 3394: the stand-in computes it over CKM_AES_ECB (strongroom.hsm.keyWrap =
// ecb-rfc3394) and the standby, with GCM disabled, uses its own CKM_AES_KEY_WRAP, so each member
// opens the other's records.
describe.runIf(softHsmAvailable() && p11KitAvailable())('HSM failover from a network HSM', () => {
  describeEachDialect('p11-kit stand-in and local standby', (context) => {
    const passwords = workflowPasswords();
    const secrets = new Map<string, string>();
    let primaryHsm: SoftHsmFixture;
    let server: P11KitServer;
    let standbyDirectory: string;
    let home: string;
    let baseUrl: string;
    let service: ServiceProcess | undefined;
    let sessions: WorkflowSessions;

    beforeAll(async () => {
      const tokenLabel = `net-${context.dialect}`;
      primaryHsm = await createSoftHsmFixture({ tokenLabel });
      await primaryHsm.generateKey(KEY_LABEL);
      await primaryHsm.generateAuditKey(`${KEY_LABEL}-audit`);
      server = await startP11KitServer(primaryHsm);

      // The standby tokendir contains an exact copy of the token folder, serial number included.
      // Two equal serials are safe here because no SoftHSM instance reads both tokendirs.
      standbyDirectory = await mkdtemp(join(tmpdir(), 'strongroom-standby-'));
      const standby = await writeSoftHsmConfig(standbyDirectory, ['CKM_AES_GCM']);
      const folder = await findTokenFolder(primaryHsm, primaryHsm.slotId);
      await cp(folder.path, join(standby.tokenDirectory, 'copy'), { recursive: true });

      home = join(context.baseDir, 'home');
      const databaseUrl =
        context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      const env = {
        ...(await hsmEnvironment(context.baseDir, primaryHsm)),
        ...server.clientEnv,
        SOFTHSM2_CONF: standby.configPath,
      };
      const init = await runCli([
        'init',
        '--home',
        home,
        '--database-url',
        databaseUrl,
        '--listen',
        `127.0.0.1:${port}`,
        '--hsm-library',
        server.clientModule,
        '--hsm-token-label',
        tokenLabel,
        '--hsm-key-label',
        KEY_LABEL,
      ]);
      expect(init.code, init.stderr).toBe(0);
      await writeFile(
        join(home, 'security', 'hsm', 'standby.conf'),
        `name = standby\nlibrary = ${primaryHsm.library}\ntokenLabel = ${tokenLabel}\n`,
      );
      await appendFile(
        join(home, 'security', 'security.properties'),
        [
          'strongroom.hsm.keyWrap = ecb-rfc3394',
          'strongroom.hsm.failover.configPaths = hsm/standby.conf',
          'strongroom.hsm.failover.retryPrimarySeconds = 1',
          'strongroom.dekCache.maxEntries = 0',
          '',
        ].join('\n'),
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
    }, 120_000);

    afterAll(async () => {
      await service?.stop();
      await server?.cleanup();
      await primaryHsm?.cleanup();
      await rm(standbyDirectory, { recursive: true, force: true });
    });

    async function reveal(accountId: string): Promise<RevealOutcome> {
      const reply = await sessions.call('POST', `/api/v1/accounts/${accountId}/reveal`, {
        token: sessions.parties.operator,
        body: { reason: 'failover outage test' },
      });
      return {
        status: reply.status,
        code: reply.json.error?.code,
        correct: reply.status === 200 && reply.json.secret === secrets.get(accountId),
      };
    }

    /** Returns the service's log lines at warn level and above, to explain a failed assertion. */
    function warnings(): string {
      const lines = service?.output().split('\n') ?? [];
      return lines.filter((line) => /"level":(40|50|60)/.test(line)).join('\n');
    }

    async function metric(name: string): Promise<number> {
      const response = await fetch(`${baseUrl}/metrics`);
      expect(response.status).toBe(200);
      return sampleValue(await response.text(), name);
    }

    it('serves through the standby while the stand-in is down', async () => {
      const ids = [...secrets.keys()];
      const outcomes: RevealOutcome[] = [];
      let running = true;
      const callers = Array.from({ length: CALLERS }, async (_, caller) => {
        for (let turn = caller; running; turn += CALLERS) {
          outcomes.push(await reveal(ids[turn % ids.length]!));
        }
      });

      try {
        await waitFor(async () => outcomes.length >= 20);
        await server.stop();
        const stoppedAt = outcomes.length;
        await waitFor(async () => (await metric('strongroom_hsm_active_member')) === 1);
        const switchedAt = outcomes.length;
        await waitFor(async () => outcomes.length >= switchedAt + 50);

        await server.start();
        await waitFor(async () => (await metric('strongroom_hsm_active_member')) === 0);
        const backAt = outcomes.length;
        await waitFor(async () => outcomes.length >= backAt + 50);
        running = false;
        await Promise.all(callers);

        const failed = outcomes.filter((outcome) => !outcome.correct);
        expect(failed.filter((outcome) => outcome.status !== 503)).toEqual([]);
        expect(new Set(failed.map((outcome) => outcome.code))).toEqual(
          new Set(failed.length === 0 ? [] : ['SR_HSM_UNAVAILABLE']),
        );
        expect(outcomes.slice(0, stoppedAt).every((outcome) => outcome.correct)).toBe(true);
        expect(outcomes.slice(switchedAt + CALLERS).every((outcome) => outcome.correct)).toBe(true);
        // The group may switch more than once around the restart, but it must end on the primary
        // with one failback per failover.
        await waitFor(async () => (await metric('strongroom_hsm_active_member')) === 0);
        const failovers = await metric('strongroom_hsm_failovers_total');
        expect(failovers, warnings()).toBeGreaterThanOrEqual(1);
        expect(await metric('strongroom_hsm_failbacks_total'), warnings()).toBe(failovers);
        if (failovers > 1) {
          console.warn(`the group failed over ${failovers} times:\n${warnings()}`);
        }
        expect(service?.child.exitCode).toBeNull();
      } finally {
        running = false;
        await Promise.all(callers);
      }

      // No secret was lost: each one reveals again through the primary.
      for (const accountId of ids) {
        expect(await reveal(accountId)).toMatchObject({ status: 200, correct: true });
      }
      expect(service?.output()).toContain('another member serves now');
      expect(service?.output()).toContain('the primary member serves again');
      expect(service?.output()).not.toContain(primaryHsm.userPin);
    }, 120_000);
  });
});

/** Polls `condition` every 100 ms until it holds, and fails after 60 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error('the condition did not hold within 60 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
