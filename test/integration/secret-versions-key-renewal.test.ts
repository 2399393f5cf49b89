import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';

import { expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/index.js';
import { openGcm } from '../../src/crypto/aes-gcm.js';
import { dekAssociatedData, secretAssociatedData } from '../../src/crypto/associated-data.js';
import { DekCache } from '../../src/keys/dek-cache.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { createKeyFile } from '../../src/keys/file/key-file.js';
import { Keyring } from '../../src/keys/keyring.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { runDekMigration } from '../../src/rotation/index.js';
import { createSecretVersionService } from '../../src/vault/secret-versions.js';
import { createVaultService } from '../../src/vault/service.js';
import type { Actor } from '../../src/vault/types.js';
import { describeEachDialect, type DialectContext } from '../support/databases.js';

const ADMIN: Actor = {
  userId: 'admin-id',
  username: 'admin',
  role: 'administrator',
  clientAddress: '127.0.0.1',
};
const SECRETS = ['version-one-Pw11', 'version-two-Pw22', 'version-three-Pw33'];

describeEachDialect('secret versions under key renewal', (context) => {
  it('renewal re-wraps every version', async () => {
    const url = await context.createDatabase();
    const store = await context.openStore({ url });
    const oldKey = await openFileKey(context);
    const newKey = await openFileKey(context);
    const keyring = new Keyring({
      active: oldKey,
      secondary: undefined,
      keys: store.keys,
      cache: new DekCache(10, 60_000),
      logger: context.logger,
    });
    await keyring.verifyCanaries();
    const audit = createAuditLog(store, context.logger);
    const deps = { keys: store.keys, keyring, audit, logger: context.logger };
    const vault = createVaultService({ ...deps, vault: store.vault });
    const versions = createSecretVersionService({
      ...deps,
      vault: store.vault,
      secretVersions: store.secretVersions,
    });
    const target = await vault.createTarget(
      { name: 'db01', address: '10.0.0.1', description: '' },
      ADMIN,
    );
    const account = await vault.createAccount(
      target.id,
      { username: 'root', description: '', secret: SECRETS[0] ?? '' },
      ADMIN,
    );
    await versions.setSecret(
      account.id,
      { secret: SECRETS[1] ?? '', reason: 'rotation one' },
      ADMIN,
    );
    await versions.setSecret(
      account.id,
      { secret: SECRETS[2] ?? '', reason: 'rotation two' },
      ADMIN,
    );

    const summary = await runDekMigration({
      store,
      source: oldKey,
      target: newKey,
      command: 'renew',
      audit,
      actor: 'os:tester',
      logger: context.logger,
      dryRun: false,
    });

    expect(summary.outcome).toBe('completed');
    expect(summary.migrated).toBe(SECRETS.length);
    const rows = await context.runSql(
      url,
      `select version, dek_id, secret_ciphertext from account_secret_versions where account_id = '${account.id}' order by version`,
    );
    expect(rows).toHaveLength(SECRETS.length);
    for (const row of rows) {
      const version = Number(row['version']);
      const dekRecord = await store.keys.findDek(String(row['dek_id']));
      expect(dekRecord?.ref, `version ${version}`).toEqual(newKey.ref());
      const dek = await newKey.unwrap(dekRecord!, dekAssociatedData(dekRecord!.id));
      const plaintext = openGcm(
        dek,
        Buffer.from(row['secret_ciphertext'] as Uint8Array),
        secretAssociatedData(account.id, dekRecord!.id, version),
      );
      expect(plaintext.toString('utf8'), `version ${version}`).toBe(SECRETS[version - 1]);
    }
    await keyring.close();
    await newKey.close();
  });
});

async function openFileKey(context: DialectContext): Promise<MasterKeyProvider> {
  const folder = await mkdtemp(path.join(context.baseDir, 'key-'));
  const keyPath = path.join(folder, 'master.key');
  await createKeyFile(keyPath);
  const provider = createFileProvider({ path: keyPath });
  await provider.open();
  return provider;
}
