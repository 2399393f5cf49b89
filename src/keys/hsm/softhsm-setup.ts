/**
 * Sets up SoftHSM2 tokens and keys with the same commands an administrator runs by hand
 * (softhsm2-util, pkcs11-tool), for `strongroom quickstart`, the benchmark and the tests.
 *
 * NOTE: both tools take PINs as command-line arguments, which other local users can see in the
 * process list while a command runs. Use this for development tokens only.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StrongroomError } from '../../errors.js';

const run = promisify(execFile);

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

/** An AES key to generate. The defaults make a key that Strongroom accepts as master key. */
export interface AesKeyOptions {
  configPath: string;
  library: string;
  tokenLabel: string;
  userPin: string;
  keyLabel: string;
  /** Key length in bytes: 16, 24 or 32 (default). */
  bytes?: number;
  /** CKA_SENSITIVE, default true. */
  sensitive?: boolean;
  /** CKA_EXTRACTABLE, default false. */
  extractable?: boolean;
  /** CKA_ID in hex, for example '01'. */
  id?: string;
}

/**
 * Generates an AES key on the token with pkcs11-tool, as an administrator would. With OpenSC 0.23,
 * --sensitive sets CKA_SENSITIVE, the key is not extractable unless --extractable is given, and
 * --private hides it from sessions that are not logged in.
 */
export async function generateAesKey(options: AesKeyOptions): Promise<void> {
  const args = [
    '--module',
    options.library,
    '--token-label',
    options.tokenLabel,
    '--login',
    '--pin',
    options.userPin,
    '--keygen',
    '--key-type',
    `AES:${options.bytes ?? 32}`,
    '--label',
    options.keyLabel,
    '--private',
  ];
  if (options.sensitive ?? true) {
    args.push('--sensitive');
  }
  if (options.extractable ?? false) {
    args.push('--extractable');
  }
  if (options.id !== undefined) {
    args.push('--id', options.id);
  }
  await runTool('pkcs11-tool', args, options.configPath, [options.userPin]);
}

/** Lists the token's objects as `pkcs11-tool --list-objects --login` prints them. */
export async function listSoftHsmObjects(
  options: Omit<AesKeyOptions, 'keyLabel'>,
): Promise<string> {
  const args = [
    '--module',
    options.library,
    '--token-label',
    options.tokenLabel,
    '--login',
    '--pin',
    options.userPin,
    '--list-objects',
  ];
  return runTool('pkcs11-tool', args, options.configPath, [options.userPin]);
}

/** Returns the SoftHSM version that softhsm2-util reports, for example "2.6.1". */
export async function softHsmVersion(): Promise<string> {
  return (await runTool('softhsm2-util', ['--version'], undefined, [])).trim();
}

const packageOfTool: Record<string, string> = {
  'softhsm2-util': 'softhsm2',
  'pkcs11-tool': 'opensc',
};

/**
 * Runs a tool with SOFTHSM2_CONF set and returns its standard output. The error names the tool,
 * its exit status and its messages, with every PIN in them replaced by '***'.
 */
async function runTool(
  tool: string,
  args: string[],
  configPath: string | undefined,
  secrets: readonly string[],
): Promise<string> {
  const env =
    configPath === undefined ? process.env : { ...process.env, SOFTHSM2_CONF: configPath };
  try {
    const { stdout } = await run(tool, args, { env, timeout: 60_000 });
    return stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & {
      stderr?: string;
      stdout?: string;
      code?: string | number;
    };
    if (failure.code === 'ENOENT') {
      throw new StrongroomError(
        'SR_HSM_TOOL_FAILED',
        `${tool} is not installed. Install the ${packageOfTool[tool] ?? tool} package (apt-get install ${packageOfTool[tool] ?? tool}).`,
      );
    }

    const output = hideSecrets(`${failure.stderr ?? ''}${failure.stdout ?? ''}`.trim(), secrets);
    throw new StrongroomError(
      'SR_HSM_TOOL_FAILED',
      `${tool} ${args[0] ?? ''} failed with exit status ${String(failure.code)}: ${output}`,
      {
        details: { tool },
      },
    );
  }
}

function hideSecrets(text: string, secrets: readonly string[]): string {
  return secrets
    .filter((secret) => secret !== '')
    .reduce((result, secret) => result.split(secret).join('***'), text);
}
