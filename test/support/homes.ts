import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { runCli } from './cli.js';
import type { DialectContext } from './databases.js';
import type { SoftHsmFixture } from './softhsm.js';

/**
 * Writes the fixture's user PIN to a 0600 file in `folder` and returns the environment that lets
 * a `strongroom` process reach the token: SOFTHSM2_CONF and STRONGROOM_HSM_PIN_FILE.
 */
export async function hsmEnvironment(
  folder: string,
  fixture: SoftHsmFixture,
): Promise<NodeJS.ProcessEnv> {
  const pinFile = join(folder, 'hsm.pin');
  await writeFile(pinFile, `${fixture.userPin}\n`, { mode: 0o600 });
  return {
    SOFTHSM2_CONF: fixture.configPath,
    STRONGROOM_HSM_PIN_FILE: pinFile,
    STRONGROOM_HSM_PIN: '',
  };
}

/**
 * Runs `strongroom init` for a home with the file key active, then configures the fixture's token
 * and `keyLabel` beside it, as an administrator does before migrating. `securityLines` are added
 * to security.properties.
 */
export async function initHomeBesideHsm(options: {
  home: string;
  databaseUrl: string;
  port: number;
  fixture: SoftHsmFixture;
  keyLabel: string;
  securityLines?: string[];
}): Promise<void> {
  const { home, fixture } = options;
  const init = await runCli([
    'init',
    '--home',
    home,
    '--database-url',
    options.databaseUrl,
    '--listen',
    `127.0.0.1:${options.port}`,
  ]);
  expect(init.code).toBe(0);

  const providerFile = join(home, 'security', 'hsm', 'pkcs11.conf');
  await mkdir(dirname(providerFile), { recursive: true });
  await writeFile(
    providerFile,
    `name = Strongroom\nlibrary = ${fixture.library}\ntokenLabel = ${fixture.tokenLabel}\n`,
  );
  const lines = [
    `hsm.provider.configPath = ${providerFile}`,
    `hsm.keystore.alias = ${options.keyLabel}`,
    ...(options.securityLines ?? []),
  ];
  await appendFile(join(home, 'security', 'security.properties'), `${lines.join('\n')}\n`);
}

/** A home folder made by `strongroom init` with the file key, and the store it opens. */
export interface FileHome {
  home: string;
  databaseUrl: string;
  /** Opens the home's database, resolving a relative SQLite path against the home folder. */
  openStore(): ReturnType<DialectContext['openStore']>;
}

/**
 * Runs `strongroom init` in `<baseDir>/home` with the file key, on a SQLite file in the home or on
 * a new PostgreSQL database.
 */
export async function initFileHome(context: DialectContext): Promise<FileHome> {
  const home = join(context.baseDir, 'home');
  const databaseUrl =
    context.dialect === 'sqlite' ? 'sqlite:data/strongroom.db' : await context.createDatabase();
  const init = await runCli(['init', '--home', home, '--database-url', databaseUrl]);
  expect(init.code, init.stderr).toBe(0);
  const storeUrl =
    context.dialect === 'sqlite' ? `sqlite:${join(home, 'data', 'strongroom.db')}` : databaseUrl;
  return { home, databaseUrl, openStore: () => context.openStore({ url: storeUrl }) };
}
