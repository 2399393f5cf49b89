import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { setTimeout } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openStore, type Store } from '../../src/store/index.js';
import { freePort, startServe, type ServiceProcess } from '../support/cli.js';
import { describeEachDialect } from '../support/databases.js';
import { hsmEnvironment, initHomeBesideHsm } from '../support/homes.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';
import {
  addWorkflowUsers,
  grantRevealAccess,
  startWorkflowSessions,
  workflowPasswords,
} from '../support/workflow-people.js';

const KEY_LABEL = 'pam-master-key';
const PASSWORDS = workflowPasswords();
const ACCOUNTS = 500;
/** One DEK per account secret and one per TOTP secret of the three workflow users. */
const DEKS = ACCOUNTS + 3;
/** Reveals in flight at once while a migration runs. */
const CONCURRENT_REVEALS = 8;
/** Bounds on one load run, so that a migration that hangs cannot keep the loop going. */
const MAX_REVEALS_PER_MIGRATION = 20_000;
const MAX_LOAD_MS = 90_000;
/** Reveals that must finish while the migration process runs for the test to count as online. */
const MIN_REVEALS_DURING_MIGRATION = 100;
/**
 * Reveals that must end while the rows are split between the two keys. Pages of 5 rows keep the
 * rows split for about a hundred page commits. With pages of 25, one loaded CI run saw only 19.
 */
const MIN_REVEALS_WHILE_ROWS_SPLIT = 20;
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

interface RevealFailure {
  accountId: string;
  status: number;
  body: string;
}

interface LoadResult {
  /** Reveals that started after the migration process was spawned and ended before it exited. */
  duringMigration: number;
  /**
   * Reveals that ended between the first moved row and the last, as a poller of the DEK counts
   * saw them every 5 ms, so the rows were split between the two keys.
   */
  whileRowsSplit: number;
  total: number;
  failures: RevealFailure[];
  migrationCode: number | null;
  migrationOutput: string;
}

describe.runIf(softHsmAvailable())('dek migrate under reveal load', () => {
  describeEachDialect('online migration', (context) => {
    let fixture: SoftHsmFixture;
    let home: string;
    let baseUrl: string;
    let env: NodeJS.ProcessEnv;
    let service: ServiceProcess | undefined;
    let token: string;
    let databaseUrl: string;
    const secrets = new Map<string, string>();

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: `online-${context.dialect}` });
      await fixture.generateKey(KEY_LABEL);
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
      home = join(context.baseDir, 'home');
      databaseUrl =
        context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      env = await hsmEnvironment(context.baseDir, fixture);
      // With the DEK cache off, every reveal unwraps its DEK with the provider its row names at
      // that moment, so the reveals see each row change.
      await initHomeBesideHsm({
        home,
        databaseUrl,
        port,
        fixture,
        keyLabel: KEY_LABEL,
        securityLines: ['strongroom.dekCache.maxEntries = 0'],
      });
      await addWorkflowUsers(home, PASSWORDS);

      service = await startServe(home, baseUrl, env);
      const sessions = await startWorkflowSessions(baseUrl, PASSWORDS);
      // The administrator creates the accounts; the operator reveals them within approved grants.
      token = sessions.parties.admin;

      const target = await post('/api/v1/targets', {
        name: 'db01',
        address: 'db01.example.internal',
      });
      expect(target.status).toBe(201);
      const targetId = String(((await target.json()) as { id: string }).id);
      for (let index = 0; index < ACCOUNTS; index += 1) {
        const secret = `root-${randomBytes(12).toString('hex')}`;
        const account = await post(`/api/v1/targets/${targetId}/accounts`, {
          username: `user${index}`,
          secret,
        });
        expect(account.status).toBe(201);
        secrets.set(String(((await account.json()) as { id: string }).id), secret);
      }
      await grantRevealAccess(sessions, targetId, secrets.keys());
      token = sessions.parties.operator;
    }, 120_000);

    afterAll(async () => {
      await service?.stop();
      await fixture?.cleanup();
    });

    function post(path: string, body: unknown): Promise<Response> {
      return fetch(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    }

    /**
     * Runs `dek migrate --to <target>` as its own process while CONCURRENT_REVEALS workers reveal
     * random accounts over HTTP, and checks each response against the expected secret. The load
     * stops when the migration exits, or at the count and time bounds.
     */
    async function migrateUnderLoad(target: 'hsm' | 'file'): Promise<LoadResult> {
      const ids = [...secrets.keys()];
      const failures: RevealFailure[] = [];
      const endTimes: number[] = [];
      let total = 0;
      let duringMigration = 0;
      let migrationRunning = true;
      const deadline = Date.now() + MAX_LOAD_MS;

      const child = spawn(
        process.execPath,
        [CLI, 'dek', 'migrate', '--to', target, '--home', home, '--yes', '--batch-size', '5'],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let migrationOutput = '';
      child.stdout.on('data', (chunk: Buffer) => (migrationOutput += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (migrationOutput += chunk.toString()));
      const exited = new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code) => {
          migrationRunning = false;
          resolve(code);
        });
      });

      const worker = async (): Promise<void> => {
        while (migrationRunning && total < MAX_REVEALS_PER_MIGRATION && Date.now() < deadline) {
          const accountId = ids[Math.floor(Math.random() * ids.length)] as string;
          total += 1;
          const response = await post(`/api/v1/accounts/${accountId}/reveal`, {
            reason: 'online migration check',
          });
          const text = await response.text();
          const secret =
            response.status === 200 ? (JSON.parse(text) as { secret?: string }).secret : undefined;
          if (secret !== secrets.get(accountId)) {
            failures.push({ accountId, status: response.status, body: text });
          }
          endTimes.push(Date.now());
          if (migrationRunning) {
            duringMigration += 1;
          }
        }
      };

      const store = await openStore(databaseUrl, { baseDir: home, logger: context.logger });
      let firstMoveAt = Number.POSITIVE_INFINITY;
      let lastMoveAt = Number.POSITIVE_INFINITY;
      const poller = async (): Promise<void> => {
        while (migrationRunning && Date.now() < deadline) {
          const moved = await countUnder(store, target);
          if (moved > 0 && firstMoveAt === Number.POSITIVE_INFINITY) {
            firstMoveAt = Date.now();
          }
          if (moved === DEKS) {
            lastMoveAt = Date.now();
            return;
          }
          await setTimeout(5);
        }
      };

      try {
        await Promise.all([
          poller(),
          ...Array.from({ length: CONCURRENT_REVEALS }, () => worker()),
        ]);
      } finally {
        await store.close();
      }
      if (migrationRunning) {
        child.kill('SIGKILL');
      }
      const migrationCode = await exited;
      const whileRowsSplit = endTimes.filter(
        (time) => time >= firstMoveAt && time <= lastMoveAt,
      ).length;
      return { duringMigration, whileRowsSplit, total, failures, migrationCode, migrationOutput };
    }

    async function countDeksUnder(provider: 'hsm' | 'file'): Promise<number> {
      const store = await openStore(databaseUrl, { baseDir: home, logger: context.logger });
      try {
        return await countUnder(store, provider);
      } finally {
        await store.close();
      }
    }

    it('reveals succeed while migrating to HSM', async () => {
      const result = await migrateUnderLoad('hsm');

      expect(result.migrationOutput).not.toContain('SR_');
      expect(result.migrationCode).toBe(0);
      expect(result.failures).toEqual([]);
      expect(result.duringMigration).toBeGreaterThanOrEqual(MIN_REVEALS_DURING_MIGRATION);
      expect(result.whileRowsSplit).toBeGreaterThanOrEqual(MIN_REVEALS_WHILE_ROWS_SPLIT);
      expect(await countDeksUnder('hsm')).toBe(DEKS);
      expect(await countDeksUnder('file')).toBe(0);
      expect(service?.child.exitCode).toBeNull();
    }, 150_000);

    it('reveals succeed while migrating back to file', async () => {
      const result = await migrateUnderLoad('file');

      expect(result.migrationOutput).not.toContain('SR_');
      expect(result.migrationCode).toBe(0);
      expect(result.failures).toEqual([]);
      expect(result.duringMigration).toBeGreaterThanOrEqual(MIN_REVEALS_DURING_MIGRATION);
      expect(result.whileRowsSplit).toBeGreaterThanOrEqual(MIN_REVEALS_WHILE_ROWS_SPLIT);
      expect(await countDeksUnder('file')).toBe(DEKS);
      expect(await countDeksUnder('hsm')).toBe(0);
      expect(service?.child.exitCode).toBeNull();
    }, 150_000);
  });
});

async function countUnder(store: Store, provider: 'hsm' | 'file'): Promise<number> {
  const counts = await store.keys.countDeksByKey();
  return counts
    .filter((entry) => entry.ref.provider === provider)
    .reduce((sum, entry) => sum + entry.count, 0);
}
