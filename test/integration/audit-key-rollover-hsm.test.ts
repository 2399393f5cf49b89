import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { createCheckpoint } from '../../src/audit/chain/checkpoints.js';
import type { ChainReport } from '../../src/audit/chain/report.js';
import { loadConfig } from '../../src/config/load.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { openStore } from '../../src/store/index.js';
import { appendEvents } from '../support/audit-chain.js';
import { freePort, runCli } from '../support/cli.js';
import { describeEachDialect, silentLogger } from '../support/databases.js';
import { hsmEnvironment, initHomeBesideHsm } from '../support/homes.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const KEY_LABEL = 'pam-master-key';
const RENEWED_LABEL = 'pam-master-key-2027';

/** Appends events, and with `checkpoint` a checkpoint under the file key, through the store. */
async function appendAudited(home: string, events: number, checkpoint: boolean): Promise<void> {
  const config = await loadConfig(home);
  const logger = silentLogger();
  const store = await openStore(config.databaseUrl, { baseDir: home, logger });
  try {
    await appendEvents(store, logger, events);
    if (checkpoint) {
      const key = await openFileCheckpointKey(config.keyFile);
      await store.audit.insertCheckpoint(
        await createCheckpoint(key, await store.audit.readChainHead(), new Date()),
      );
      await key.close();
    }
  } finally {
    await store.close();
  }
}

describe.runIf(softHsmAvailable())('audit key rollover with an HSM', () => {
  describeEachDialect('audit key rollover between file and HSM', (context) => {
    let fixture: SoftHsmFixture;
    let home: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      fixture = await createSoftHsmFixture({ tokenLabel: `roll-${context.dialect}` });
      await fixture.generateKey(KEY_LABEL);
      await fixture.generateKey(RENEWED_LABEL);
      await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
      await fixture.generateAuditKey(`${RENEWED_LABEL}-audit`);
      home = join(context.baseDir, 'home');
      const databaseUrl =
        context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
      env = await hsmEnvironment(context.baseDir, fixture);
      await initHomeBesideHsm({
        home,
        databaseUrl,
        port: await freePort(),
        fixture,
        keyLabel: KEY_LABEL,
      });
      await appendAudited(home, 3, true);
      // The first command that opens the keyring writes the canaries that a migration needs.
      const first = await verify();
      expect(first.report.intact).toBe(true);
      return () => fixture.cleanup();
    });

    async function verify(): Promise<{ code: number | null; report: ChainReport }> {
      const result = await runCli(['audit', 'verify', '--home', home, '--json'], { env });
      expect(result.stdout, result.stderr).not.toBe('');
      return { code: result.code, report: JSON.parse(result.stdout) as ChainReport };
    }

    async function dek(args: string[]): Promise<void> {
      const result = await runCli(['dek', ...args, '--home', home, '--yes', '--set-provider'], {
        env,
      });
      expect(result.stderr).not.toContain('SR_');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(
        /Audit key rollover \d+ at seq \d+: it vouches for checkpoints/,
      );
    }

    it('migrate file to hsm keeps the chain intact', async () => {
      await dek(['migrate', '--to', 'hsm']);
      await appendAudited(home, 2, false);

      const { code, report } = await verify();

      expect(report.findings).toEqual([]);
      expect(code).toBe(0);
      expect(report.rollovers).toEqual([
        expect.objectContaining({
          oldProvider: 'file',
          newProvider: 'hsm',
          newKeyId: `${KEY_LABEL}-audit`,
          status: 'verified',
          digestMatches: true,
        }),
      ]);
      expect(report.lastCheckpoint).toMatchObject({
        provider: 'hsm',
        keyId: `${KEY_LABEL}-audit`,
        macValid: true,
      });
    });

    it('renew to a new hsm label keeps the chain intact', async () => {
      await dek(['renew', '--hsm-key-label', RENEWED_LABEL]);
      await appendAudited(home, 1, false);

      const { code, report } = await verify();

      expect(report.findings).toEqual([]);
      expect(code).toBe(0);
      expect(report.rollovers.at(-1)).toMatchObject({
        oldProvider: 'hsm',
        oldKeyId: `${KEY_LABEL}-audit`,
        newProvider: 'hsm',
        newKeyId: `${RENEWED_LABEL}-audit`,
        status: 'verified',
      });
      // The old audit key is still on the token, so its checkpoints are checked directly.
      expect(report.retiredKeys).toEqual([]);
    });

    it('migrate hsm to file keeps the chain intact', async () => {
      await dek(['migrate', '--to', 'file']);
      await appendAudited(home, 1, true);

      const { code, report } = await verify();

      expect(report.findings).toEqual([]);
      expect(code).toBe(0);
      expect(report.rollovers.map((rollover) => rollover.status)).toEqual([
        'verified',
        'verified',
        'verified',
      ]);
      expect(report.rollovers.at(-1)).toMatchObject({ oldProvider: 'hsm', newProvider: 'file' });
    });

    it('retired hsm keys are vouched for without the hsm', async () => {
      const properties = join(home, 'security', 'security.properties');
      const text = await readFile(properties, 'utf8');
      await writeFile(
        properties,
        text
          .split('\n')
          .filter((line) => !line.startsWith('hsm.'))
          .join('\n'),
      );

      const { code, report } = await verify();

      expect(report.findings).toEqual([]);
      expect(code).toBe(0);
      expect(report.rollovers.map((rollover) => rollover.status)).toEqual([
        'verified',
        'vouched',
        'verified',
      ]);
      expect(report.retiredKeys.map((retired) => retired.keyId)).toEqual([
        `${KEY_LABEL}-audit`,
        `${RENEWED_LABEL}-audit`,
      ]);
      await writeFile(properties, text);
    });
  });

  describeEachDialect('audit key rollover without the new audit key', (context) => {
    it('migrate fails and a second run writes it', async () => {
      const fixture = await createSoftHsmFixture({ tokenLabel: `nokey-${context.dialect}` });
      try {
        await fixture.generateKey(KEY_LABEL);
        const home = join(context.baseDir, 'home');
        const databaseUrl =
          context.dialect === 'sqlite'
            ? 'sqlite:data/strongroom.db'
            : await context.createDatabase();
        const env = await hsmEnvironment(context.baseDir, fixture);
        await initHomeBesideHsm({
          home,
          databaseUrl,
          port: await freePort(),
          fixture,
          keyLabel: KEY_LABEL,
        });
        await appendAudited(home, 2, true);
        expect((await runCli(['audit', 'verify', '--home', home], { env })).code).toBe(0);
        const properties = join(home, 'security', 'security.properties');
        const before = await readFile(properties, 'utf8');
        const migrate = [
          'dek',
          'migrate',
          '--to',
          'hsm',
          '--home',
          home,
          '--yes',
          '--set-provider',
        ];

        const failed = await runCli(migrate, { env });

        expect(failed.code).toBe(1);
        expect(failed.stderr).toContain('SR_AUDIT_ROLLOVER_FAILED');
        expect(failed.stderr).toContain(`'${KEY_LABEL}-audit'`);
        expect(failed.stderr).toContain(
          `strongroom hsm keygen --audit --label "${KEY_LABEL}-audit"`,
        );
        expect(failed.stderr).not.toContain(fixture.userPin);
        expect(await readFile(properties, 'utf8')).toBe(before);

        await fixture.generateAuditKey(`${KEY_LABEL}-audit`);
        const retried = await runCli(migrate, { env });

        expect(retried.code).toBe(0);
        expect(retried.stdout).toContain('Audit key rollover 1 at seq');
        const verify = await runCli(['audit', 'verify', '--home', home, '--json'], { env });
        expect(verify.code).toBe(0);
        const report = JSON.parse(verify.stdout) as ChainReport;
        expect(report.rollovers).toEqual([expect.objectContaining({ status: 'verified' })]);
      } finally {
        await fixture.cleanup();
      }
    });
  });
});
