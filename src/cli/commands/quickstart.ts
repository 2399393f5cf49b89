import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { homeLayout, type HomeLayout } from '../../config/home.js';
import { initHome } from '../../config/init-home.js';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../logging.js';
import { openStore } from '../../store/index.js';
import { createUser, enrolTotpDirectly, type TotpEnrolment } from '../../auth/index.js';
import { openKeyring } from '../../keys/open-keyring.js';
import { createAuditLog } from '../../audit/index.js';
import {
  findSoftHsmLibrary,
  generateAesKey,
  generateSoftHsmAuditKey,
  initSoftHsmToken,
  writeSoftHsmConfig,
} from '../../keys/hsm/softhsm-setup.js';
import { runCommand } from '../output.js';
import { recordQuickstartKeys } from './quickstart-keys.js';
import { serve } from './serve.js';

const TOKEN_LABEL = 'strongroom';
const KEY_LABEL = 'strongroom-master-key';
/** The default of strongroom.audit.keyLabel, '<hsm.keystore.alias>-audit'. */
const AUDIT_KEY_LABEL = `${KEY_LABEL}-audit`;
const ADMIN_NAME = 'admin';

/** Returns the paths of the quick start's SoftHSM token and PIN files inside the home folder. */
function softHsmPaths(layout: HomeLayout) {
  const directory = join(layout.home, 'softhsm');
  return {
    directory,
    configPath: join(directory, 'softhsm2.conf'),
    userPinFile: join(layout.hsmDir, 'user.pin'),
    soPinFile: join(directory, 'so.pin'),
  };
}

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description(
      'set up a home folder with SQLite and a SoftHSM master key (or a file key), then serve',
    )
    .option('--home <dir>', 'home folder to create or reuse', 'strongroom-home')
    .option('--listen <host:port>', 'address the service listens on', '127.0.0.1:8080')
    .action(async (flags: { home: string; listen: string }) => {
      await runCommand(false, async () => {
        const layout = homeLayout(resolve(flags.home));
        const created = !existsSync(layout.strongroomProperties);
        if (created) {
          await setUp(layout, flags.listen);
        } else {
          process.stdout.write(
            `Using the existing home folder ${layout.home}; it listens where server.listen in strongroom.properties says, and --listen applies only when a home is created.\n`,
          );
        }

        const paths = softHsmPaths(layout);
        if (existsSync(paths.configPath)) {
          process.env['SOFTHSM2_CONF'] ??= paths.configPath;
          // A PIN sealed by 'hsm register', or one given by the caller, takes the place of the file.
          const sealed = (await loadConfig(layout.home)).hsm?.sealedPin !== undefined;
          if (
            !sealed &&
            !process.env['STRONGROOM_HSM_PIN'] &&
            !process.env['STRONGROOM_HSM_PIN_FILE']
          ) {
            process.env['STRONGROOM_HSM_PIN_FILE'] = paths.userPinFile;
          }
        }
        // The master key opens only now that the PIN is known, and the TOTP secret is sealed under it.
        if (created) {
          await createAdministrator(layout);
        }
        await serve(layout.home);
      });
    });
}

async function setUp(layout: HomeLayout, listen: string): Promise<void> {
  const library = findSoftHsmLibrary();
  const missing = missingSoftHsmPackages(library);
  const databaseUrl = 'sqlite:data/strongroom.db';

  if (library === undefined || missing.length > 0) {
    process.stdout.write(
      `SoftHSM is not available: install it with 'sudo apt-get install ${missing.join(' ')}' to keep the master key in a PKCS#11 token.\n` +
        'Starting with a file master key instead.\n',
    );
    await initHome({ home: layout.home, databaseUrl, listen, hsm: undefined });
  } else {
    await createSoftHsmToken(layout, library);
    await initHome({
      home: layout.home,
      databaseUrl,
      listen,
      hsm: { library, tokenLabel: TOKEN_LABEL, keyLabel: KEY_LABEL },
    });
  }
}

/**
 * Makes a token in the home folder with an AES-256 master key (sensitive, never extractable) and
 * the audit checkpoint key, without which the service does not start.
 */
async function createSoftHsmToken(layout: HomeLayout, library: string): Promise<void> {
  const paths = softHsmPaths(layout);
  const userPin = randomBytes(12).toString('base64url');
  const soPin = randomBytes(12).toString('base64url');

  await mkdir(layout.home, { recursive: true, mode: 0o750 });
  await mkdir(layout.hsmDir, { recursive: true, mode: 0o700 });
  await writeSoftHsmConfig(paths.directory);
  await writeFile(paths.userPinFile, `${userPin}\n`, { mode: 0o600, flag: 'wx' });
  await writeFile(paths.soPinFile, `${soPin}\n`, { mode: 0o600, flag: 'wx' });

  const { slotId } = await initSoftHsmToken({
    configPath: paths.configPath,
    label: TOKEN_LABEL,
    soPin,
    userPin,
  });
  await generateAesKey({
    configPath: paths.configPath,
    library,
    tokenLabel: TOKEN_LABEL,
    userPin,
    keyLabel: KEY_LABEL,
  });
  await generateSoftHsmAuditKey(
    {
      configPath: paths.configPath,
      library,
      tokenLabel: TOKEN_LABEL,
      userPin,
      keyLabel: AUDIT_KEY_LABEL,
    },
    createLogger('warn'),
  );
  process.stdout.write(
    `Created SoftHSM token '${TOKEN_LABEL}' (slot ID ${slotId}) with the AES-256 master key '${KEY_LABEL}' and the audit checkpoint key '${AUDIT_KEY_LABEL}'.\n` +
      `Its user PIN is in ${paths.userPinFile} and its SO PIN in ${paths.soPinFile}.\n`,
  );
}

/**
 * Creates the administrator with a random password and an enrolled TOTP second factor, and prints
 * both once, with the otpauth URI for an authenticator app.
 */
async function createAdministrator(layout: HomeLayout): Promise<void> {
  const config = await loadConfig(layout.home);
  const logger = createLogger('warn');
  const store = await openStore(config.databaseUrl, { baseDir: layout.home, logger });
  const password = randomBytes(18).toString('base64url');
  let enrolment: TotpEnrolment;
  try {
    const keyring = await openKeyring(config, store.keys, logger);
    try {
      const audit = createAuditLog(store, logger);
      // The keys were made before the database existed, so their events are recorded now.
      await recordQuickstartKeys(audit, keyring, config);
      const admin = await createUser(
        store,
        { username: ADMIN_NAME, password, role: 'administrator' },
        { audit: { log: audit, actor: 'quickstart', clientAddress: 'cli' } },
      );
      enrolment = await enrolTotpDirectly(
        { users: store.users, totpKeys: { keyring, keys: store.keys } },
        admin,
        new Date(),
      );
    } finally {
      await keyring.close();
    }
  } finally {
    await store.close();
  }

  const baseUrl = `http://${urlHost(config.listen.host)}:${config.listen.port}`;
  process.stdout.write(
    `\nAdministrator '${ADMIN_NAME}' created with the password:\n\n    ${password}\n\n` +
      'and the TOTP second factor below. Add it to an authenticator app: turn the URI into a QR code\n' +
      `(for example 'qrencode -t ansiutf8 URI') or type the secret.\n\n` +
      `    ${enrolment.otpauthUri}\n    secret: ${enrolment.secret}\n\n` +
      'They are shown only this once. Log in with POST /api/v1/auth/login once the service runs, for example:\n' +
      `    curl -s -X POST ${baseUrl}/api/v1/auth/login -H 'content-type: application/json' -d '{"username":"${ADMIN_NAME}","password":"...","totpCode":"123456"}'\n\n`,
  );
}

/** Puts an IPv6 address in brackets for a URL. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function missingSoftHsmPackages(library: string | undefined): string[] {
  const missing: string[] = [];
  if (library === undefined || !onPath('softhsm2-util')) {
    missing.push('softhsm2');
  }
  if (!onPath('pkcs11-tool')) {
    missing.push('opensc');
  }
  return missing;
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
