import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { beforeAll, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';
import { describeEachDialect } from '../support/databases.js';
import { initFileHome, type FileHome } from '../support/homes.js';

const HEADER = 'target_name,target_address,account_username,secret_type,secret';
const SECRETS = ['cli-import-password-Kq41', 'cli-import-password-Zn07', 'cli-bad-row-secret-Uu55'];

interface Report {
  imported: boolean;
  accountsCreated: number;
  targetsCreated: number;
  rowsSkipped: number;
  errors: Array<{ line: number; message: string }>;
}

describeEachDialect('strongroom import', (context) => {
  let home: string;
  let openHomeStore: FileHome['openStore'];

  beforeAll(async () => {
    ({ home, openStore: openHomeStore } = await initFileHome(context));
  });

  async function writeCsv(name: string, lines: string[]): Promise<string> {
    const file = join(context.baseDir, name);
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('imports a file', async () => {
    const file = await writeCsv('good.csv', [
      HEADER,
      `cli-web01,10.9.0.1,root,password,${SECRETS[0]}`,
      `cli-web01,10.9.0.1,deploy,password,${SECRETS[1]}`,
    ]);

    const result = await runCli(['import', file, '--home', home, '--yes']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('Imported 2 accounts and 1 new target from 2 rows.\n');
    const store = await openHomeStore();
    const target = (await store.vault.listTargets()).find((entry) => entry.name === 'cli-web01');
    expect((await store.vault.listAccounts(target?.id ?? '')).map((a) => a.username)).toEqual([
      'deploy',
      'root',
    ]);
    const events = await store.audit.listEvents({ action: 'vault.import', limit: 10 });
    expect(events.at(-1)).toMatchObject({
      actor: expect.stringMatching(/^os:/),
      clientAddress: 'cli',
      details: { accountsCreated: 2 },
    });
    await store.close();
  });

  it('imports nothing from a file with errors', async () => {
    const file = await writeCsv('bad.csv', [
      HEADER,
      `cli-app01,10.9.0.2,root,password,${SECRETS[0]}`,
      `cli-app01,10.9.0.2,key,ssh-private-key,${SECRETS[2]}`,
    ]);

    const result = await runCli(['import', file, '--home', home, '--yes']);

    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^line 3: the field secret is invalid: it is not a PEM or OpenSSH/,
    );
    expect(result.stdout).toMatch(/Nothing was imported: the file has 1 invalid row\./);
    for (const secret of SECRETS) {
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
    const store = await openHomeStore();
    expect((await store.vault.listTargets()).map((target) => target.name)).not.toContain(
      'cli-app01',
    );
    await store.close();
  });

  it('skips invalid rows when asked', async () => {
    const file = await writeCsv('partial.csv', [
      HEADER,
      `cli-app02,10.9.0.3,root,password,${SECRETS[0]}`,
      `cli-app02,10.9.0.3,key,ssh-private-key,${SECRETS[2]}`,
    ]);

    const result = await runCli([
      'import',
      file,
      '--home',
      home,
      '--yes',
      '--skip-invalid',
      '--json',
    ]);

    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report).toMatchObject({ imported: true, accountsCreated: 1, rowsSkipped: 1 });
    expect(report.errors.map((error) => error.line)).toEqual([3]);
    expect(result.stdout).not.toContain(SECRETS[2]);
  });

  it('requires --yes without a terminal', async () => {
    const file = await writeCsv('unconfirmed.csv', [HEADER, `cli-app03,10.9.0.4,root,password,x1`]);

    const result = await runCli(['import', file, '--home', home]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'strongroom: SR_CLI_USAGE_INVALID: Standard input is not a terminal, so the command cannot ask for confirmation. Pass --yes to run it.\n',
    );
  });

  it('names a missing file', async () => {
    const result = await runCli([
      'import',
      join(context.baseDir, 'missing.csv'),
      '--home',
      home,
      '--yes',
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/missing\.csv/);
  });
});
