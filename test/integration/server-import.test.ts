import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import { isStrongroomError } from '../../src/errors.js';
import type { AccountRecord, Store } from '../../src/store/repositories.js';
import { sealSecret } from '../../src/vault/seal.js';
import { describeEachDialect } from '../support/databases.js';
import { errorOf, startVaultServer, type VaultServer } from '../support/vault-server.js';

const START = new Date('2030-06-01T08:00:00.000Z');
const HEADER =
  'target_name,target_address,target_description,account_username,secret_type,secret,account_description';
const SSH_KEY = readFileSync(
  join(import.meta.dirname, '..', 'fixtures', 'ssh-keys', 'openssh-ed25519'),
  'utf8',
);

/** Secrets of the files below, searched for in responses, logs and audit events. */
const SECRETS = {
  web: 'web01-root-password-Ab12',
  db: 'db01-postgres-password-Cd34',
  bad: 'bad-row-password-Ef56',
  dup: 'duplicate-row-password-Gh78',
};

interface Report {
  imported: boolean;
  rows: number;
  targetsCreated: number;
  accountsCreated: number;
  rowsSkipped: number;
  errors: Array<{ line: number; message: string }>;
}

describeEachDialect('CSV import API', (context) => {
  let store: Store;
  let server: VaultServer;

  beforeAll(async () => {
    store = await context.openStore();
    server = await startVaultServer(store, START);
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    server.logs.length = 0;
  });

  const importCsv = (csv: string, skipInvalid?: boolean) =>
    server.as('administrator', {
      method: 'POST',
      url: '/api/v1/import',
      payload: { csv, ...(skipInvalid === undefined ? {} : { skipInvalid }) },
    });

  /** Reveals an imported account as an operator with an approved grant on it. */
  const reveal = async (targetName: string, username: string) => {
    const target = (await store.vault.listTargets()).find((entry) => entry.name === targetName);
    const account = (await store.vault.listAccounts(target?.id ?? '')).find(
      (entry) => entry.username === username,
    );
    await server.allowReveal(target?.id ?? '', account?.id ?? '');
    const response = await server.as('operator', {
      method: 'POST',
      url: `/api/v1/accounts/${account?.id ?? ''}/reveal`,
      payload: { reason: 'check the import' },
    });
    return response.json<{ secret: string }>().secret;
  };

  it('imports a good file', async () => {
    const csv = [
      HEADER,
      `web01,10.1.0.1,front end,root,password,${SECRETS.web},`,
      `web01,10.1.0.1,,deploy,ssh-private-key,"${SSH_KEY}",deploy key`,
      `db01,10.1.0.2,,postgres,password,"${SECRETS.db}",`,
    ].join('\n');

    const response = await importCsv(csv);

    expect(response.statusCode).toBe(201);
    expect(response.json<Report>()).toEqual({
      imported: true,
      rows: 3,
      targetsCreated: 2,
      accountsCreated: 3,
      rowsSkipped: 0,
      errors: [],
    });
    expect(await reveal('web01', 'root')).toBe(SECRETS.web);
    expect(await reveal('web01', 'deploy')).toBe(SSH_KEY);
    expect(await reveal('db01', 'postgres')).toBe(SECRETS.db);
    const web = (await store.vault.listTargets()).find((target) => target.name === 'web01');
    expect(web).toMatchObject({ address: '10.1.0.1', description: 'front end' });
    const deploy = (await store.vault.listAccounts(web?.id ?? '')).find(
      (account) => account.username === 'deploy',
    );
    expect(deploy).toMatchObject({ secretType: 'ssh-private-key', description: 'deploy key' });
    const versions = await store.secretVersions.listVersions(deploy?.id ?? '');
    expect(versions).toMatchObject([{ createdBy: 'administrator1', reason: 'Imported from CSV.' }]);
  });

  it('reports bad rows by line', async () => {
    const csv = [
      HEADER,
      `app01,10.2.0.1,,root,password,${SECRETS.bad},`,
      `app01,10.2.0.1,,,password,${SECRETS.bad},`,
      `app01,10.2.0.1,,svc,certificate,${SECRETS.bad},`,
      `app01,10.2.0.1,,deploy,ssh-private-key,${SECRETS.bad},`,
      '',
      `app01,10.2.0.1,,root,password,${SECRETS.dup},`,
      `web01,10.1.0.1,,root,password,${SECRETS.bad},`,
      `app01,10.2.0.99,,admin,password,${SECRETS.bad},`,
      `${'n'.repeat(201)},10.2.0.1,,root,password,${SECRETS.bad},`,
      `app01,10.2.0.1,,short`,
      `app02,10.2.0.2,,"multi`,
      `line",password,${SECRETS.bad},`,
      `app02,10.2.0.2,,multi,password,"",`,
    ].join('\n');

    const response = await importCsv(csv);

    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe('SR_IMPORT_ROWS_INVALID');
    const report = response.json<{ report: Report }>().report;
    expect(report).toMatchObject({ imported: false, rows: 11, accountsCreated: 0 });
    expect(report.errors).toEqual([
      { line: 3, message: 'the field account_username is missing' },
      {
        line: 4,
        message:
          "the field secret is invalid: the secret type 'certificate' is unknown; use one of password, ssh-private-key",
      },
      {
        line: 5,
        message: expect.stringMatching(/^the field secret is invalid: it is not a PEM or OpenSSH/),
      },
      {
        line: 7,
        message: 'the account duplicates the one on line 2 (same target_name and account_username)',
      },
      {
        line: 8,
        message: 'the account exists: the target already has an account with this account_username',
      },
      {
        line: 9,
        message: 'the target_address differs from the one given for the same target on line 2',
      },
      {
        line: 10,
        message: 'the field target_name is too long: it has 201 characters, the maximum is 200',
      },
      { line: 11, message: 'the row has 4 fields, but the header has 7' },
      // A quoted field may span lines; the row is reported at the line where it starts.
      { line: 12, message: 'the field account_username contains a control character' },
      { line: 14, message: 'the field secret is invalid: the secret is empty' },
    ]);
    expect((await store.vault.listTargets()).map((target) => target.name)).not.toContain('app01');
  });

  it('keeps secrets out of errors, logs and audit', async () => {
    const csv = [
      HEADER,
      `app01,10.2.0.1,,deploy,ssh-private-key,${SECRETS.bad},`,
      `app01,10.2.0.1,,deploy,password,${SECRETS.dup},`,
      // The secret typed into the target_name column is not echoed either.
      `${SECRETS.bad},10.2.0.1,,x,password,,`,
    ].join('\n');

    const response = await importCsv(csv);

    const events = await store.audit.listEvents({ action: 'vault.import', limit: 100 });
    for (const secret of Object.values(SECRETS)) {
      expect(response.body).not.toContain(secret);
      expect(server.logs.join('\n')).not.toContain(secret);
      expect(JSON.stringify(events)).not.toContain(secret);
    }
    expect(response.json<{ report: Report }>().report.errors).toHaveLength(2);
  });

  it('imports only good rows when asked', async () => {
    const csv = [
      HEADER,
      `app03,10.3.0.1,,root,password,${SECRETS.web},`,
      `app03,10.3.0.1,,bad,ssh-private-key,${SECRETS.bad},`,
      `app03,10.3.0.1,,oracle,password,${SECRETS.db},`,
    ].join('\n');

    const response = await importCsv(csv, true);

    expect(response.statusCode).toBe(201);
    expect(response.json<Report>()).toMatchObject({
      imported: true,
      rows: 3,
      targetsCreated: 1,
      accountsCreated: 2,
      rowsSkipped: 1,
      errors: [{ line: 3 }],
    });
    const target = (await store.vault.listTargets()).find((entry) => entry.name === 'app03');
    expect((await store.vault.listAccounts(target?.id ?? '')).map((a) => a.username)).toEqual([
      'oracle',
      'root',
    ]);
  });

  it('stores SQL text as plain names', async () => {
    const name = "x'); drop table targets; --";
    const csv = [HEADER, `"${name}",10.7.0.1,,"root' or '1'='1",password,${SECRETS.web},`].join(
      '\n',
    );

    const response = await importCsv(csv);

    expect(response.statusCode).toBe(201);
    const target = (await store.vault.listTargets()).find((entry) => entry.name === name);
    expect(target).toBeDefined();
    expect((await store.vault.listAccounts(target?.id ?? ''))[0]?.username).toBe("root' or '1'='1");
  });

  it('adds accounts to an existing target', async () => {
    const csv = [HEADER, `db01,10.1.0.2,,replica,password,${SECRETS.db},`].join('\n');

    const response = await importCsv(csv);

    expect(response.json<Report>()).toMatchObject({ targetsCreated: 0, accountsCreated: 1 });
    expect(await reveal('db01', 'replica')).toBe(SECRETS.db);
  });

  it('stores a batch all or nothing', async () => {
    const before = await countRows();
    const db01 = (await store.vault.listTargets()).find((target) => target.name === 'db01');
    const app04 = {
      id: randomUUID(),
      name: 'app04',
      address: '10.4.0.1',
      description: '',
      createdAt: START.toISOString(),
    };
    // The second account clashes with the stored db01/postgres, which only the database sees here.
    const batch = {
      targets: [app04],
      accounts: [
        await accountRows(app04.id, 'root'),
        await accountRows(db01?.id ?? '', 'postgres'),
      ],
      origin: { createdBy: 'administrator1', reason: 'Imported from CSV.' },
    };

    const error = await store.imports.insertBatch(batch).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect(await countRows()).toEqual(before);
  });

  it('rolls back when the audit fails', async () => {
    const before = await countRows();
    server.auditSwitch.failing = true;

    const response = await importCsv(
      [HEADER, `app06,10.6.0.1,,root,password,x-Pass-1,`].join('\n'),
    );
    server.auditSwitch.failing = false;

    expect(response.statusCode).toBe(503);
    expect(errorOf(response).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect(await countRows()).toEqual(before);
  });

  it('rejects a malformed file', async () => {
    const cases = [
      { csv: 'name,address\nweb,1', line: 1, message: /unknown column 'name'/ },
      { csv: `${HEADER}\nweb,"unclosed`, line: 2, message: /quoted field is not closed/ },
      {
        csv: HEADER.replace(',secret_type', ''),
        line: 1,
        message: /lacks the column secret_type/,
      },
    ];

    for (const { csv, line, message } of cases) {
      const response = await importCsv(csv, true);
      const report = response.json<{ report: Report }>().report;

      expect(response.statusCode, csv).toBe(400);
      expect(report.errors[0]?.line, csv).toBe(line);
      expect(report.errors[0]?.message, csv).toMatch(message);
    }
  });

  it('audits each import with counts', async () => {
    const events = await store.audit.listEvents({ action: 'vault.import', limit: 100 });

    expect(events[0]).toMatchObject({
      actor: 'administrator1',
      outcome: 'success',
      details: { rows: 3, targetsCreated: 2, accountsCreated: 3, rowsSkipped: 0, errors: 0 },
    });
    expect(events[1]).toMatchObject({
      outcome: 'failure',
      details: { errors: 10, accountsCreated: 0 },
    });
  });

  it('is refused to non-administrators', async () => {
    for (const role of ['operator', 'auditor', 'approver'] as const) {
      const response = await server.as(role, {
        method: 'POST',
        url: '/api/v1/import',
        payload: { csv: HEADER },
      });
      expect(response.statusCode, role).toBe(403);
    }
  });

  async function accountRows(targetId: string, username: string) {
    const id = randomUUID();
    const { dek, ciphertext } = await sealSecret(server.keyring, id, 1, SECRETS.web);
    const account: AccountRecord = {
      id,
      targetId,
      username,
      description: '',
      dekId: dek.id,
      secretCiphertext: ciphertext,
      secretVersion: 1,
      secretType: 'password',
      createdAt: START.toISOString(),
      updatedAt: START.toISOString(),
    };
    return { account, dek };
  }

  async function countRows() {
    const targets = (await store.vault.listTargets()).length;
    let accounts = 0;
    for (const target of await store.vault.listTargets()) {
      accounts += (await store.vault.listAccounts(target.id)).length;
    }
    const deks = (await store.keys.countDeksByKey()).reduce((sum, entry) => sum + entry.count, 0);
    return { targets, accounts, deks };
  }
});
