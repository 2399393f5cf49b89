import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { homeLayout } from '../config/home.js';
import { loadConfig, type StrongroomConfig } from '../config/load.js';
import { createFileProvider } from '../keys/file/file-provider.js';
import { checkStoredKeys } from '../keys/startup-check.js';
import type { MasterKeyRef } from '../keys/types.js';
import { openStore } from '../store/index.js';
import { parseDatabaseUrl } from '../store/url.js';
import { isUtimacoLibrary, checkUtimacoClient } from './device-checks.js';
import { checkLibraryMode, checkPresent, checkSecretFileMode } from './file-checks.js';
import { checkHsmKey } from './hsm-checks.js';
import { failedFrom, type CheckResult } from './types.js';

const INIT_FIX =
  "Run 'strongroom init --home DIR' to create it, or point --home at the existing home folder.";

/**
 * Runs the checks an administrator would otherwise do by hand, in order: files and their modes,
 * the Utimaco client file and devices, the PKCS#11 library, token, login and master key, the
 * database, and whether the stored DEKs match the configured provider. Changes nothing.
 */
export async function runDoctor(
  home: string,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<CheckResult[]> {
  const layout = homeLayout(home);
  const results: CheckResult[] = [];

  const homeCheck = await checkPresent('home folder', layout.home, INIT_FIX);
  results.push(homeCheck);
  if (homeCheck.status === 'failed') {
    return results;
  }

  results.push(await checkPresent('strongroom.properties', layout.strongroomProperties, INIT_FIX));
  results.push(await checkPresent('security.properties', layout.securityProperties, INIT_FIX));

  let config: StrongroomConfig;
  try {
    config = await loadConfig(home);
    results.push({
      name: 'configuration',
      status: 'ok',
      message: 'the configuration files are valid.',
    });
  } catch (error) {
    results.push(failedFrom('configuration', error));
    return results;
  }

  results.push(await checkSecretFileMode('security.properties mode', layout.securityProperties));
  const fileRef = await checkKeyFile(config, results);
  const hsmRef = await checkHsm(config, env, logger, results);
  await checkDatabase(config, logger, results, { file: fileRef, hsm: hsmRef });
  return results;
}

/** Checks the key file's mode and opens it, when the file provider is active or its file exists. */
async function checkKeyFile(
  config: StrongroomConfig,
  results: CheckResult[],
): Promise<MasterKeyRef | undefined> {
  const present = await checkPresent(
    'key file',
    config.keyFile,
    'Restore the key file from its backup, or set strongroom.keyFile in security.properties.',
  );
  if (present.status === 'failed') {
    if (config.activeProvider === 'file') {
      results.push(present);
    }
    return undefined;
  }

  const mode = await checkSecretFileMode('key file mode', config.keyFile, 'strongroom.keyFile');
  results.push(mode);
  if (mode.status === 'failed') {
    return undefined;
  }

  const provider = createFileProvider({ path: config.keyFile });
  try {
    await provider.open();
    const ref = provider.ref();
    results.push({
      name: 'file master key',
      status: 'ok',
      message: `key file ${config.keyFile} contains key ${ref.keyId}.`,
    });
    return ref;
  } catch (error) {
    results.push(failedFrom('file master key', error));
    return undefined;
  } finally {
    await provider.close();
  }
}

async function checkHsm(
  config: StrongroomConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  results: CheckResult[],
): Promise<MasterKeyRef | undefined> {
  const hsm = config.hsm;
  if (hsm === undefined) {
    return undefined;
  }

  const { library } = hsm.providerFile;
  results.push(await checkLibraryMode('PKCS#11 library mode', library));
  const standbyLibraries = new Set(hsm.failover?.standbys.map((standby) => standby.library));
  standbyLibraries.delete(library);
  for (const standbyLibrary of standbyLibraries) {
    results.push(await checkLibraryMode('PKCS#11 library mode', standbyLibrary));
  }
  if ([library, ...standbyLibraries].some(isUtimacoLibrary)) {
    results.push(...(await checkUtimacoClient(env)));
  }

  const { results: keyResults, ref } = await checkHsmKey(hsm, env, logger);
  results.push(...keyResults);
  return ref;
}

async function checkDatabase(
  config: StrongroomConfig,
  logger: Logger,
  results: CheckResult[],
  refs: { file: MasterKeyRef | undefined; hsm: MasterKeyRef | undefined },
): Promise<void> {
  let location;
  try {
    location = parseDatabaseUrl(config.databaseUrl, config.layout.home);
  } catch (error) {
    results.push(failedFrom('database', error));
    return;
  }
  // Opening a missing SQLite file would create it, and the doctor changes nothing.
  if (location.dialect === 'sqlite' && !existsSync(location.file)) {
    results.push({
      name: 'database',
      status: 'warning',
      message: `SQLite database ${location.file} does not exist yet.`,
      fix: "'strongroom serve' creates it on its first start.",
    });
    results.push(skipped('DEKs', 'the database does not exist yet'));
    return;
  }

  let store;
  try {
    store = await openStore(config.databaseUrl, {
      baseDir: config.layout.home,
      logger,
      migrate: false,
    });
  } catch (error) {
    results.push(failedFrom('database', error));
    results.push(skipped('DEKs', 'the database cannot be opened'));
    return;
  }

  try {
    const counts = await store.keys.countDeksByKey();
    results.push({
      name: 'database',
      status: 'ok',
      message: `the ${store.dialect} database is reachable.`,
    });

    const active = refs[config.activeProvider];
    const secondary = config.activeProvider === 'file' ? refs.hsm : refs.file;
    if (active === undefined) {
      results.push(skipped('DEKs', `the active ${config.activeProvider} master key is not usable`));
      return;
    }
    const warnings = checkStoredKeys(
      counts,
      active,
      secondary === undefined ? [active] : [active, secondary],
    );
    const total = counts.reduce((sum, entry) => sum + entry.count, 0);
    results.push(
      warnings.length === 0
        ? {
            name: 'DEKs',
            status: 'ok',
            message: `${total} DEK(s), all wrapped by keys the configured providers hold.`,
          }
        : { name: 'DEKs', status: 'warning', message: warnings.join(' ') },
    );
  } catch (error) {
    if (results.some((entry) => entry.name === 'database')) {
      results.push(failedFrom('DEKs', error));
    } else {
      const fix = "If the schema is missing, start 'strongroom serve' once to create it.";
      results.push({ ...failedFrom('database', error), fix });
    }
  } finally {
    await store.close();
  }
}

function skipped(name: string, reason: string): CheckResult {
  return { name, status: 'skipped', message: `skipped, because ${reason}.` };
}
