/**
 * Sets up SoftHSM2 tokens and keys with the same commands an administrator runs by hand
 * (softhsm2-util, pkcs11-tool), for `strongroom quickstart`, the benchmark and the tests.
 *
 * NOTE: both tools take PINs as command-line arguments, which other local users can see in the
 * process list while a command runs. Use this for development tokens only.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StrongroomError } from '../../errors.js';
import { runTool } from './softhsm-tools.js';

export {
  generateAesKey,
  generateSoftHsmAuditKey,
  listSoftHsmObjects,
  type AesKeyOptions,
} from './softhsm-keys.js';

/** Paths where distributions install the SoftHSM2 module, Debian's first. */
export const SOFTHSM_LIBRARY_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/lib64/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

/** Returns the path of the SoftHSM2 module, or undefined when the softhsm2 package is not installed. */
export function findSoftHsmLibrary(): string | undefined {
  return SOFTHSM_LIBRARY_PATHS.find((path) => existsSync(path));
}

/** A SoftHSM configuration of its own: a softhsm2.conf and the token folder it names. */
export interface SoftHsmConfig {
  /** Path to give in SOFTHSM2_CONF. */
  configPath: string;
  tokenDirectory: string;
}

/**
 * Writes softhsm2.conf and an empty token folder under `directory`. `disabledMechanisms` (CKM_*
 * names) are removed from every slot's mechanism list, as an HSM without them would behave.
 */
export async function writeSoftHsmConfig(
  directory: string,
  disabledMechanisms: readonly string[] = [],
): Promise<SoftHsmConfig> {
  const tokenDirectory = join(directory, 'tokens');
  const configPath = join(directory, 'softhsm2.conf');
  await mkdir(tokenDirectory, { recursive: true, mode: 0o700 });

  const lines = [
    '# Written by Strongroom for a development token.',
    `directories.tokendir = ${tokenDirectory}`,
    'objectstore.backend = file',
    'log.level = ERROR',
    'slots.removable = false',
    `slots.mechanisms = ${mechanismSetting(disabledMechanisms)}`,
    'library.reset_on_fork = false',
  ];
  await writeFile(configPath, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { configPath, tokenDirectory };
}

/**
 * Builds the slots.mechanisms value. A leading '-' makes it a list of mechanisms to remove.
 * SoftHSM 2.6.1 keeps the '-' on the first name, so that name matches nothing and stays enabled
 * (`-CKM_AES_GCM` alone leaves GCM on). Repeating the first name works around this and is
 * harmless for versions that parse the list correctly.
 */
function mechanismSetting(disabled: readonly string[]): string {
  const [first] = disabled;
  if (first === undefined) {
    return 'ALL';
  }
  return `-${[first, ...disabled].join(',')}`;
}

/** A token to initialise: its label and PINs. */
export interface SoftHsmTokenOptions {
  configPath: string;
  label: string;
  soPin: string;
  userPin: string;
}

/** Initialises a token in SoftHSM's free slot and returns the slot ID that SoftHSM assigned to it. */
export async function initSoftHsmToken(options: SoftHsmTokenOptions): Promise<{ slotId: number }> {
  const output = await runTool(
    'softhsm2-util',
    [
      '--init-token',
      '--free',
      '--label',
      options.label,
      '--so-pin',
      options.soPin,
      '--pin',
      options.userPin,
    ],
    options.configPath,
    [options.soPin, options.userPin],
  );

  const match = /reassigned to slot (\d+)/.exec(output);
  if (match?.[1] === undefined) {
    throw new StrongroomError(
      'SR_HSM_TOOL_FAILED',
      `softhsm2-util --init-token did not report the new slot ID. Its output was: ${output.trim()}`,
    );
  }
  return { slotId: Number(match[1]) };
}

/** Returns the SoftHSM version that softhsm2-util reports, for example "2.6.1". */
export async function softHsmVersion(): Promise<string> {
  return (await runTool('softhsm2-util', ['--version'], undefined, [])).trim();
}
