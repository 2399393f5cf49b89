import { spawn } from 'node:child_process';
import { mkdir, appendFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/index.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createHsmProvider } from '../../src/keys/hsm/index.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider, MasterKeyRef } from '../../src/keys/types.js';
import { openStore, type Store } from '../../src/store/index.js';
import { createVaultService } from '../../src/vault/service.js';
import type { Actor } from '../../src/vault/types.js';
import { batchProcessesOf, waitForExit } from '../support/batch-processes.js';
import { runCli } from '../support/cli.js';
import { describeEachDialect, type DialectContext } from '../support/databases.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const KEY_LABEL = 'pam-master-key';
const ACCOUNTS = 2000;
/** SIGKILLs per dialect, so that the two dialects together kill the migration 20 times. */
const KILLS = 10;
/** Upper bound of the random delay after which the odd-numbered kills fire. */
const MAX_KILL_DELAY_MS = 1500;
/**
 * Pages of the killed runs. Small pages give the kills many page boundaries to fall between, and
 * keep a run slow enough that a kill lands before the run moves the rows left.
 */
const KILLED_BATCH_SIZE = '10';
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const ADMIN: Actor = {
  userId: 'admin-id',
  username: 'admin',
  role: 'administrator',
  clientAddress: '127.0.0.1',
};

describe.runIf(softHsmAvailable())('dek migrate killed mid-run', () => {
  describeEachDialect('crash and resume', (context) => {
    let fixture: SoftHsmFixture;
    let home: string;
    let databaseUrl: string;
    let env: NodeJS.ProcessEnv;
    const secrets = new Map<string, string>();

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: `crash-${context.dialect}` });
      await fixture.generateKey(KEY_LABEL);
      // A complete migration to the HSM writes an audit key rollover, which needs this key.
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
      home = join(context.baseDir, 'home');
      databaseUrl =
        context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
      const pinFile = join(context.baseDir, 'hsm.pin');
      await writeFile(pinFile, `${fixture.userPin}\n`, { mode: 0o600 });
      env = {
        SOFTHSM2_CONF: fixture.configPath,
        STRONGROOM_HSM_PIN_FILE: pinFile,
        STRONGROOM_HSM_PIN: '',
      };

      const init = await runCli(['init', '--home', home, '--database-url', databaseUrl]);
      expect(init.code).toBe(0);
      const providerFile = join(home, 'security', 'hsm', 'pkcs11.conf');
      await mkdir(dirname(providerFile), { recursive: true });
      await writeFile(
        providerFile,
        `name = Strongroom\nlibrary = ${fixture.library}\ntokenLabel = ${fixture.tokenLabel}\n`,
      );
      await appendFile(
        join(home, 'security', 'security.properties'),
        `hsm.provider.configPath = ${providerFile}\nhsm.keystore.alias = ${KEY_LABEL}\n`,
      );

      await withStore(context, async (store) => {
        const file = createFileProvider({ path: join(home, 'security', 'master.key') });
        await file.open();
        try {
          const vault = vaultOver(store, file, context);
          await keyringOver(store, file, context).verifyCanaries();
          const target = await vault.createTarget(
            { name: 'db01', address: 'db01.example.internal', description: '' },
            ADMIN,
          );
          for (let index = 0; index < ACCOUNTS; index += 1) {
            const secret = `root-${index}-${Math.random()}`;
            const account = await vault.createAccount(
              target.id,
              { username: `user${index}`, description: '', secret },
              ADMIN,
            );
            secrets.set(account.id, secret);
          }
        } finally {
          await file.close();
        }
      });
    }, 180_000);

    afterAll(async () => {
      await fixture?.cleanup();
    });

    function migrateArgs(): string[] {
      return ['dek', 'migrate', '--to', 'hsm', '--home', home, '--yes'];
    }

    async function withStore<T>(
      dialectContext: DialectContext,
      body: (store: Store) => Promise<T>,
    ): Promise<T> {
      const store = await openStore(databaseUrl, { baseDir: home, logger: dialectContext.logger });
      try {
        return await body(store);
      } finally {
        await store.close();
      }
    }

    it('Ctrl-C stops at a DEK boundary', async () => {
      await withStore(context, async (store) => {
        const threshold = (await countUnderHsm(store)) + 20;
        const child = spawn(process.execPath, [CLI, ...migrateArgs(), '--batch-size', '25'], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const exited = new Promise<number | null>((resolve) =>
          child.on('exit', (code) => resolve(code)),
        );
        while (child.exitCode === null && (await countUnderHsm(store)) < threshold) {
          await setTimeout(5);
        }
        child.kill('SIGINT');

        expect(await exited).toBe(1);
        expect(stderr).toContain('Stopping after the pages in flight are written.');
        expect(stderr).toContain('SR_DEK_MIGRATION_INCOMPLETE');
        expect(stderr).toMatch(/was interrupted after moving \d+ DEKs/);
        expect((await store.dekMigrations.listRuns(1))[0]?.outcome).toBe('interrupted');
        expect(await countUnderHsm(store)).toBeLessThan(ACCOUNTS);
      });
    });

    it('every DEK opens after kills and resume', async () => {
      const before = await withStore(context, (store) => listRows(store));
      expect(before.dekIds).toHaveLength(ACCOUNTS);
      expect(before.accountIds).toHaveLength(ACCOUNTS);

      await withStore(context, async (store) => {
        const movedBeforeKills = await countUnderHsm(store);
        let orphansChecked = 0;
        for (let kill = 0; kill < KILLS; kill += 1) {
          // A kill fires after a random number of moved rows, at most an even share of those left,
          // so the last kill still stops the run early. Odd kills also fire at a random delay,
          // which may fall in start-up: loading, opening the HSM or taking the lock.
          const moved = await countUnderHsm(store);
          const share = Math.floor((ACCOUNTS - moved) / (KILLS - kill + 1));
          const threshold = moved + 1 + Math.floor(Math.random() * share);
          const killAt =
            kill % 2 === 1
              ? Date.now() + Math.floor(Math.random() * MAX_KILL_DELAY_MS)
              : Number.POSITIVE_INFINITY;
          const { signal, batchProcesses } = await killWhen(
            [...migrateArgs(), '--batch-size', KILLED_BATCH_SIZE],
            env,
            async () => Date.now() >= killAt || (await countUnderHsm(store)) >= threshold,
          );

          expect(signal).toBe('SIGKILL');
          expect(await countUnderHsm(store)).toBeLessThan(ACCOUNTS);
          // The HSM batch processes leave with the run that started them.
          await waitForExit(batchProcesses);
          orphansChecked += batchProcesses.length;
        }
        expect(orphansChecked).toBeGreaterThan(0);
        // The killed runs together moved rows, so the kills hit the migration and not only its start-up.
        expect(await countUnderHsm(store)).toBeGreaterThan(movedBeforeKills);
        const runs = await store.dekMigrations.listRuns(KILLS + 1);
        // A killed run never finishes its journal row. A kill before the run wrote its row leaves
        // none, so older rows, such as the interrupted run of the Ctrl-C test, may appear too.
        // Each run marks the runs killed before it as abandoned when it takes the lock.
        for (const run of runs) {
          expect(['running', 'interrupted', 'abandoned']).toContain(run.outcome);
        }
        expect(runs.filter((run) => run.outcome === 'running').length).toBeLessThanOrEqual(1);
      });

      const final = await runCli([...migrateArgs(), '--json'], { env });

      expect(final.stderr).not.toContain('SR_');
      expect(final.code).toBe(0);
      const summary = JSON.parse(final.stdout) as Record<string, number | string>;
      expect(summary.outcome).toBe('completed');
      expect(summary.failed).toBe(0);
      expect(summary.verified).toBe(ACCOUNTS);

      await withStore(context, async (store) => {
        const counts = await store.keys.countDeksByKey();
        expect(counts).toHaveLength(1);
        expect(counts[0]?.ref.provider).toBe('hsm');
        expect(counts[0]?.count).toBe(ACCOUNTS);
        const running = (await store.dekMigrations.listRuns(KILLS + 5)).filter(
          (run) => run.outcome === 'running',
        );
        expect(running).toEqual([]);

        const after = await listRows(store);
        expect(after.dekIds).toEqual(before.dekIds);
        expect(after.accountIds).toEqual(before.accountIds);
        expect(new Set(after.dekIds).size).toBe(ACCOUNTS);
        expect(new Set(after.accountIds).size).toBe(ACCOUNTS);

        const hsm = createHsmProvider({
          library: fixture.library,
          slot: { by: 'tokenLabel', label: fixture.tokenLabel },
          keyLabel: KEY_LABEL,
          pin: fixture.userPin,
          logger: context.logger,
        });
        await hsm.open();
        try {
          const vault = vaultOver(store, hsm, context);
          for (const [id, secret] of secrets) {
            expect((await vault.revealSecret(id, 'crash check', ADMIN)).secret).toBe(secret);
          }
        } finally {
          await hsm.close();
        }
      });
    }, 240_000);
  });
});

/** A key reference that wraps no DEK, so that listing the DEKs not under it lists them all. */
const NO_KEY: MasterKeyRef = { provider: 'file', keyId: 'no-such-key', kcv: '000000' };

/** Lists the ids of every DEK row and every account, each sorted, duplicates kept. */
async function listRows(store: Store): Promise<{ dekIds: string[]; accountIds: string[] }> {
  const dekIds: string[] = [];
  let afterId: string | undefined;
  for (;;) {
    const page = await store.keys.listDeksNotUnder(NO_KEY, afterId, 500);
    if (page.length === 0) {
      break;
    }
    dekIds.push(...page.map((record) => record.id));
    afterId = page[page.length - 1]?.id;
  }

  const accountIds: string[] = [];
  for (const target of await store.vault.listTargets()) {
    const accounts = await store.vault.listAccounts(target.id);
    accountIds.push(...accounts.map((account) => account.id));
  }
  return { dekIds: dekIds.sort(), accountIds: accountIds.sort() };
}

/**
 * Runs the CLI and sends SIGKILL once `ready` returns true, checked every 5 ms. Resolves with the
 * signal that ended the process, or null when it exited first, and the PIDs of the HSM batch
 * processes that it had started when it was killed.
 */
async function killWhen(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: () => Promise<boolean>,
): Promise<{ signal: NodeJS.Signals | null; batchProcesses: number[] }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve(signal));
  });

  let batchProcesses: number[] = [];
  while (child.exitCode === null && child.signalCode === null) {
    if (await ready()) {
      batchProcesses = batchProcessesOf(child.pid as number);
      child.kill('SIGKILL');
      break;
    }
    await setTimeout(5);
  }
  return { signal: await exited, batchProcesses };
}

async function countUnderHsm(store: Store): Promise<number> {
  const counts = await store.keys.countDeksByKey();
  return counts
    .filter((entry) => entry.ref.provider === 'hsm')
    .reduce((sum, entry) => sum + entry.count, 0);
}

function vaultOver(store: Store, active: MasterKeyProvider, context: DialectContext) {
  return createVaultService({
    vault: store.vault,
    keys: store.keys,
    keyring: keyringOver(store, active, context),
    audit: createAuditLog(store, context.logger),
    logger: context.logger,
  });
}

function keyringOver(store: Store, active: MasterKeyProvider, context: DialectContext): Keyring {
  return new Keyring({
    active,
    secondary: undefined,
    keys: store.keys,
    cache: new DekCache(0, 0),
    logger: context.logger,
  });
}
