import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { StrongroomError } from '../errors.js';
import { writeNewFile } from '../lib/new-file.js';
import { createKeyFile } from '../keys/file/key-file.js';
import { homeLayout, type HomeLayout } from './home.js';
import { parseListenAddress } from './listen-address.js';

export interface HsmInitOptions {
  library: string;
  tokenLabel: string;
  keyLabel: string;
}

export interface InitOptions {
  home: string;
  databaseUrl: string;
  listen: string;
  hsm: HsmInitOptions | undefined;
}

/**
 * Writes a new home folder without questions: strongroom.properties, security/security.properties
 * and either a new file master key or the PKCS#11 provider file. Refuses a folder that has a
 * configuration already, so that no key or setting is ever overwritten.
 */
export async function initHome(options: InitOptions): Promise<HomeLayout> {
  const layout = homeLayout(options.home);
  parseListenAddress(options.listen, '--listen');
  validateHsmOptions(options.hsm);

  for (const path of [layout.strongroomProperties, layout.securityProperties]) {
    if (await exists(path)) {
      throw new StrongroomError(
        'SR_CONFIG_HOME_NOT_EMPTY',
        `${path} exists; init writes only a new home folder. Choose another --home, or edit the existing files.`,
      );
    }
  }

  await mkdir(layout.home, { recursive: true, mode: 0o750 });
  await mkdir(layout.securityDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.dataDir, { recursive: true, mode: 0o700 });

  if (options.hsm === undefined) {
    await createKeyFile(layout.defaultKeyFile);
  } else {
    await mkdir(layout.hsmDir, { recursive: true, mode: 0o700 });
    await writeNewFile(layout.defaultProviderFile, providerFileText(options.hsm));
  }
  await writeNewFile(layout.securityProperties, securityPropertiesText(layout, options.hsm));
  await writeNewFile(layout.strongroomProperties, strongroomPropertiesText(options));
  return layout;
}

function validateHsmOptions(hsm: HsmInitOptions | undefined): void {
  if (hsm === undefined) {
    return;
  }
  for (const [flag, value] of [
    ['--hsm-library', hsm.library],
    ['--hsm-token-label', hsm.tokenLabel],
    ['--hsm-key-label', hsm.keyLabel],
  ] as const) {
    if (value.trim() === '' || value !== value.trim() || /[\r\n]/.test(value)) {
      throw new StrongroomError(
        'SR_CONFIG_VALUE_INVALID',
        `${flag} '${value}' is empty, has leading or trailing blanks, or spans lines; give the exact value.`,
      );
    }
  }
  if (hsm.library.startsWith('/') && !existsSync(hsm.library)) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `--hsm-library ${hsm.library} does not exist. Install the HSM vendor's PKCS#11 library there, or give its actual path.`,
    );
  }
  if (!hsm.library.startsWith('/')) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `--hsm-library '${hsm.library}' is not an absolute path.`,
    );
  }
}

function strongroomPropertiesText(options: InitOptions): string {
  return [
    '# Strongroom service settings.',
    '# database.url: sqlite:PATH (relative to this folder) or postgres://user@host:port/database',
    `database.url = ${options.databaseUrl}`,
    '# server.listen: host:port. Addresses other than loopback need server.tls.certFile and server.tls.keyFile.',
    `server.listen = ${options.listen}`,
    'log.level = info',
    '',
  ].join('\n');
}

function securityPropertiesText(layout: HomeLayout, hsm: HsmInitOptions | undefined): string {
  const lines = ['# Strongroom key settings, in the layout of the HSM integration guide.'];
  if (hsm === undefined) {
    lines.push('kron.crypto.keyProvider = file', `strongroom.keyFile = ${layout.defaultKeyFile}`);
  } else {
    lines.push(
      'kron.crypto.keyProvider = hsm',
      'hsm.provider.classname = sun.security.pkcs11.SunPKCS11',
      `hsm.provider.configPath = ${layout.defaultProviderFile}`,
      'hsm.keystore.type = PKCS11',
      `hsm.keystore.alias = ${hsm.keyLabel}`,
      'hsm.secretkey.algorithm = AES',
      '# The PIN comes from STRONGROOM_HSM_PIN_FILE or STRONGROOM_HSM_PIN.',
      'hsm.keystore.load.password =',
      'hsm.keystore.entry.password =',
    );
  }
  lines.push('');
  return lines.join('\n');
}

function providerFileText(hsm: HsmInitOptions): string {
  return [
    '# PKCS#11 provider file in SunPKCS11 syntax.',
    '# tokenLabel is a Strongroom extension that Java rejects: for Java, replace it with slot or slotListIndex.',
    'name = Strongroom',
    `library = ${hsm.library}`,
    `tokenLabel = ${hsm.tokenLabel}`,
    '',
  ].join('\n');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
