import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import {
  findSoftHsmLibrary,
  generateAesKey,
  initSoftHsmToken,
  writeSoftHsmConfig,
  type AesKeyOptions,
} from '../../src/keys/hsm/softhsm-setup.js';
import { generateAuditKeyDirect } from './softhsm-direct.js';

/** The user PIN of fixture tokens. Tests check that it never reaches a log line. */
export const FIXTURE_USER_PIN = 'fixture-pin-4711';
const FIXTURE_SO_PIN = 'fixture-so-pin-0815';

/** A SoftHSM configuration with one initialised token, made for one test file. */
export interface SoftHsmFixture {
  directory: string;
  configPath: string;
  library: string;
  tokenLabel: string;
  slotId: number;
  userPin: string;
  /** Generates an AES key on the token with pkcs11-tool; defaults make a valid master key. */
  generateKey(
    keyLabel: string,
    options?: Pick<AesKeyOptions, 'bytes' | 'sensitive' | 'extractable' | 'id'>,
  ): Promise<void>;
  /**
   * Generates the audit checkpoint key that the service needs beside an HSM master key: a 256-bit
   * generic secret for HMAC-SHA256, labelled `keyLabel` (by default '<master key label>-audit').
   */
  generateAuditKey(keyLabel: string): Promise<void>;
  /** Returns the ID of SoftHSM's free slot, whose token is not initialised. */
  uninitializedSlotId(): number;
  /** Removes the temporary folder. */
  cleanup(): Promise<void>;
}

/**
 * Tells whether SoftHSM2 and OpenSC's pkcs11-tool are installed. When they are not, the HSM tests
 * are skipped with a message, except under CI (CI set), where the missing package fails the run.
 */
export function softHsmAvailable(): boolean {
  const missing: string[] = [];
  if (findSoftHsmLibrary() === undefined || !commandRuns('softhsm2-util', ['--version'])) {
    missing.push('softhsm2');
  }
  if (
    !commandRuns('pkcs11-tool', ['--show-info', '--module', findSoftHsmLibrary() ?? '/nonexistent'])
  ) {
    missing.push('opensc');
  }
  if (missing.length === 0) {
    return true;
  }

  const message = `the HSM tests need the Debian packages ${missing.join(' and ')} (apt-get install ${missing.join(' ')})`;
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') {
    throw new Error(`${message}, and CI is set, so they must not be skipped`);
  }
  console.warn(`skipping HSM tests: ${message}`);
  return false;
}

function commandRuns(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return result.error === undefined;
}

/**
 * Makes a SoftHSM configuration in a new temporary folder, points SOFTHSM2_CONF at it (before any
 * worker thread loads the module, which reads it in C_Initialize) and initialises one token.
 * `disabledMechanisms` removes CKM_* mechanisms from the token, as an HSM without them would.
 */
export async function createSoftHsmFixture(
  options: { tokenLabel?: string; disabledMechanisms?: string[] } = {},
): Promise<SoftHsmFixture> {
  const library = findSoftHsmLibrary();
  if (library === undefined) {
    throw new Error('libsofthsm2.so not found; install the softhsm2 package');
  }

  const directory = await mkdtemp(join(tmpdir(), 'strongroom-softhsm-'));
  const { configPath } = await writeSoftHsmConfig(directory, options.disabledMechanisms ?? []);
  process.env['SOFTHSM2_CONF'] = configPath;

  const tokenLabel = options.tokenLabel ?? 'pam';
  const { slotId } = await initSoftHsmToken({
    configPath,
    label: tokenLabel,
    soPin: FIXTURE_SO_PIN,
    userPin: FIXTURE_USER_PIN,
  });

  return {
    directory,
    configPath,
    library,
    tokenLabel,
    slotId,
    userPin: FIXTURE_USER_PIN,
    generateKey: (keyLabel, keyOptions = {}) =>
      generateAesKey({
        configPath,
        library,
        tokenLabel,
        userPin: FIXTURE_USER_PIN,
        keyLabel,
        ...keyOptions,
      }),
    generateAuditKey: (keyLabel) =>
      generateAuditKeyDirect({
        library,
        configPath,
        tokenLabel,
        userPin: FIXTURE_USER_PIN,
        keyLabel,
      }),
    uninitializedSlotId: () => findUninitializedSlot(configPath),
    cleanup: () => rm(directory, { recursive: true, force: true }),
  };
}

/** Reads `softhsm2-util --show-slots` and returns the ID of the slot whose token is not initialised. */
function findUninitializedSlot(configPath: string): number {
  const result = spawnSync('softhsm2-util', ['--show-slots'], {
    env: { ...process.env, SOFTHSM2_CONF: configPath },
    encoding: 'utf8',
  });
  const blocks = result.stdout.split(/^Slot /m).slice(1);
  const free = blocks.find((block) => /Initialized:\s+no/.test(block));
  const id = free === undefined ? undefined : /^(\d+)/.exec(free)?.[1];
  if (id === undefined) {
    throw new Error(`softhsm2-util --show-slots lists no uninitialised slot:\n${result.stdout}`);
  }
  return Number(id);
}

/** Creates a pino logger that writes JSON lines into memory, so that a test can read every log line. */
export function createMemoryLogger(level = 'debug'): { logger: Logger; output: () => string } {
  const chunks: string[] = [];
  const logger = pino({ level }, { write: (chunk: string) => chunks.push(chunk) });
  return { logger, output: () => chunks.join('') };
}
