import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { createCheckpoint } from '../../src/audit/chain/checkpoints.js';
import type { ChainReport } from '../../src/audit/chain/report.js';
import { loadConfig } from '../../src/config/load.js';
import { openFileCheckpointKey } from '../../src/keys/file/checkpoint-key.js';
import { openKeyring } from '../../src/keys/open-keyring.js';
import { openStore } from '../../src/store/index.js';
import { appendEvents } from '../support/audit-chain.js';
import { runCli } from '../support/cli.js';
import { describeEachDialect, silentLogger } from '../support/databases.js';

const EVENTS = 4;

/**
 * Appends `events` audit events and a checkpoint under the home's current file key, as a service
 * would, and opens the keyring once so that the file key has its canary.
 */
async function auditUnderFileKey(home: string, events: number): Promise<void> {
  const config = await loadConfig(home);
  const logger = silentLogger();
  const store = await openStore(config.databaseUrl, { baseDir: home, logger });
  try {
    const keyring = await openKeyring(config, store.keys, logger);
    await keyring.close();
    await appendEvents(store, logger, events);
    const key = await openFileCheckpointKey(config.keyFile);
    try {
      await store.audit.insertCheckpoint(
        await createCheckpoint(key, await store.audit.readChainHead(), new Date()),
      );
    } finally {
      await key.close();
    }
  } finally {
    await store.close();
  }
}

async function verifyReport(home: string): Promise<{ code: number | null; report: ChainReport }> {
  const result = await runCli(['audit', 'verify', '--home', home, '--json']);
  return { code: result.code, report: JSON.parse(result.stdout) as ChainReport };
}

describeEachDialect('audit key rollover', (context) => {
  async function initHome(name: string): Promise<string> {
    const home = join(context.baseDir, name);
    const databaseUrl =
      context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
    const init = await runCli(['init', '--home', home, '--database-url', databaseUrl]);
    expect(init.code).toBe(0);
    return home;
  }

  it('renew to a new key file keeps the chain intact', async () => {
    const home = await initHome('renew-file');
    await auditUnderFileKey(home, EVENTS);

    const renew = await runCli(['dek', 'renew', '--home', home, '--yes', '--set-provider']);
    expect(renew.stderr).not.toContain('SR_');
    expect(renew.code).toBe(0);
    await auditUnderFileKey(home, 2);

    const { code, report } = await verifyReport(home);
    expect(report.findings).toEqual([]);
    expect(report.intact).toBe(true);
    expect(code).toBe(0);
  });
});
