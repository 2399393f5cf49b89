import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { setTimeout } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { MasterKeyRef } from '../../src/keys/types.js';
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
/** The HSM key of the renewal that moves the DEKs from the renewed key file back into the HSM. */
const RENEWED_KEY_LABEL = 'pam-master-key-2';
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

describe.runIf(softHsmAvailable())('dek migrate and renew under reveal load', () => {
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
      await fixture.generateKey(RENEWED_KEY_LABEL);
      await fixture.generateAuditKey(`${RENEWED_KEY_LABEL}-audit`);
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
     * Runs `dek <command>` as its own process while CONCURRENT_REVEALS workers reveal random
     * accounts over HTTP, and checks each response against the expected secret. `isTarget` selects
     * the keys that the command moves DEKs to. The load stops when the command exits, or at the
     * count and time bounds.
     */
    async function runUnderLoad(
      command: string[],
      isTarget: (ref: MasterKeyRef) => boolean,
    ): Promise<LoadResult> {
      const ids = [...secrets.keys()];
      const failures: RevealFailure[] = [];
      const endTimes: number[] = [];
      let total = 0;
      let duringMigration = 0;
      let migrationRunning = true;
      const deadline = Date.now() + MAX_LOAD_MS;

      const child = spawn(
        process.execPath,
        [CLI, 'dek', ...command, '--home', home, '--yes', '--batch-size', '5'],
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
          const moved = await countUnder(store, isTarget);
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

    function migrateUnderLoad(target: 'hsm' | 'file'): Promise<LoadResult> {
      return runUnderLoad(['migrate', '--to', target], (ref) => ref.provider === target);
    }

    async function countDeksUnder(
      provider: 'hsm' | 'file' | ((ref: MasterKeyRef) => boolean),
    ): Promise<number> {
      const store = await openStore(databaseUrl, { baseDir: home, logger: context.logger });
      try {
        return await countUnder(
          store,
          typeof provider === 'function' ? provider : (ref) => ref.provider === provider,
        );
      } finally {
        await store.close();
      }
    }

    async function fileKeyIds(): Promise<string[]> {
      const store = await openStore(databaseUrl, { baseDir: home, logger: context.logger });
      try {
        const counts = await store.keys.countDeksByKey();
        return counts
          .filter((entry) => entry.ref.provider === 'file')
          .map((entry) => entry.ref.keyId);
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

    // The service was started on the first key file. It opens the new key of each renewal when it
    // first meets a DEK under it.
    it('reveals succeed while renewing the key file', async () => {
      const [oldKeyId] = await fileKeyIds();
      const isRenewed = (ref: MasterKeyRef) => ref.provider === 'file' && ref.keyId !== oldKeyId;

      const result = await runUnderLoad(['renew', '--set-provider'], isRenewed);

      expect(result.migrationOutput).not.toContain('SR_');
      expect(result.migrationCode).toBe(0);
      expect(result.failures).toEqual([]);
      expect(result.duringMigration).toBeGreaterThanOrEqual(MIN_REVEALS_DURING_MIGRATION);
      expect(result.whileRowsSplit).toBeGreaterThanOrEqual(MIN_REVEALS_WHILE_ROWS_SPLIT);
      expect(await countDeksUnder(isRenewed)).toBe(DEKS);
      expect(service?.child.exitCode).toBeNull();
    }, 150_000);

    it('reveals succeed while renewing to another HSM key', async () => {
      const isRenewed = (ref: MasterKeyRef) =>
        ref.provider === 'hsm' && ref.keyId === RENEWED_KEY_LABEL;

      const result = await runUnderLoad(
        ['renew', '--hsm-key-label', RENEWED_KEY_LABEL, '--set-provider'],
        isRenewed,
      );

      expect(result.migrationOutput).not.toContain('SR_');
      expect(result.migrationCode).toBe(0);
      expect(result.failures).toEqual([]);
      expect(result.duringMigration).toBeGreaterThanOrEqual(MIN_REVEALS_DURING_MIGRATION);
      expect(result.whileRowsSplit).toBeGreaterThanOrEqual(MIN_REVEALS_WHILE_ROWS_SPLIT);
      expect(await countDeksUnder(isRenewed)).toBe(DEKS);
      expect(service?.child.exitCode).toBeNull();
    }, 150_000);
  });
});

async function countUnder(store: Store, isTarget: (ref: MasterKeyRef) => boolean): Promise<number> {
  const counts = await store.keys.countDeksByKey();
  return counts.filter((entry) => isTarget(entry.ref)).reduce((sum, entry) => sum + entry.count, 0);
}
