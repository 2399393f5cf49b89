import { resolve, join } from 'node:path';

/** The files of a Strongroom home folder, laid out as the integration guide lays out its own. */
export interface HomeLayout {
  home: string;
  strongroomProperties: string;
  securityDir: string;
  securityProperties: string;
  hsmDir: string;
  defaultKeyFile: string;
  defaultProviderFile: string;
  dataDir: string;
}

/** Picks the home folder: --home, then STRONGROOM_HOME, then the current directory. */
export function resolveHome(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return resolve(option ?? env['STRONGROOM_HOME'] ?? '.');
}

export function homeLayout(home: string): HomeLayout {
  const securityDir = join(home, 'security');
  return {
    home,
    strongroomProperties: join(home, 'strongroom.properties'),
    securityDir,
    securityProperties: join(securityDir, 'security.properties'),
    hsmDir: join(securityDir, 'hsm'),
    defaultKeyFile: join(securityDir, 'master.key'),
    defaultProviderFile: join(securityDir, 'hsm', 'pkcs11.conf'),
    dataDir: join(home, 'data'),
  };
}
