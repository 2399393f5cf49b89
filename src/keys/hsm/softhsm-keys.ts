/**
 * Generates and lists keys on a SoftHSM token with OpenSC's pkcs11-tool, as an administrator does.
 *
 * NOTE: pkcs11-tool takes the PIN as a command-line argument, which other local users can see in
 * the process list while it runs. Use this for development tokens only.
 */
import type { Logger } from 'pino';
import { runTool } from './softhsm-tools.js';
import { runTokenTool } from './token-tools.js';

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

/**
 * Generates the audit checkpoint key (an HMAC-SHA256 generic secret) on a SoftHSM token, as
 * `strongroom hsm keygen --audit` does, in a PKCS#11 worker of its own. SOFTHSM2_CONF points at
 * `configPath` while the worker starts, because a worker copies the environment when it starts.
 */
export async function generateSoftHsmAuditKey(
  options: Omit<AesKeyOptions, 'bytes' | 'sensitive' | 'extractable' | 'id'>,
  logger: Logger,
): Promise<void> {
  const previous = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = options.configPath;
  try {
    await runTokenTool(
      'macKeygen',
      {
        library: options.library,
        slot: { by: 'tokenLabel', label: options.tokenLabel },
        pin: options.userPin,
        keyLabel: options.keyLabel,
      },
      logger,
    );
  } finally {
    if (previous === undefined) {
      delete process.env['SOFTHSM2_CONF'];
    } else {
      process.env['SOFTHSM2_CONF'] = previous;
    }
  }
}
