import type { Command } from 'commander';
import { resolveHome } from '../../config/home.js';
import { loadConfig, type HsmConfig, type StrongroomConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import { resolveHsmPin } from '../../keys/hsm-pin.js';
import { runTokenTool, type TokenInspection, type TokenObject } from '../../keys/hsm/index.js';
import { createCliLogger } from '../logger.js';
import { keygen, type KeygenFlags } from './hsm-keygen.js';
import { registerHsmRegister } from './hsm-register.js';
import { verifyGroup } from './hsm-verify-group.js';
import { EXIT, printError, runCommand } from '../output.js';

export interface HsmFlags {
  home?: string;
  json?: boolean;
}

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';

export function registerHsm(program: Command): void {
  const hsm = program.command('hsm').description('inspect the HSM token and its master key');

  hsm
    .command('verify')
    .description(
      'log in to the configured token (and each HSM failover member), list its objects and check the master key and the audit checkpoint key; exit 0 only when both are usable on every reachable member and the members hold the same keys, 1 otherwise',
    )
    .option('--home <dir>', HOME_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (flags: HsmFlags) => {
      await runCommand(flags.json === true, () => verify(flags));
    });

  registerHsmRegister(hsm);

  hsm
    .command('keygen')
    .description(
      'generate the AES-256 master key, or with --audit the HMAC key of audit checkpoints, on the configured token (sensitive, never extractable); exit 0 when the new key is usable',
    )
    .option(
      '--label <label>',
      'CKA_LABEL of the new key: the value of hsm.keystore.alias, or with --audit of strongroom.audit.keyLabel (the default there)',
    )
    .option('--audit', 'generate the audit checkpoint key (CKK_GENERIC_SECRET for CKM_SHA256_HMAC)')
    .option('--home <dir>', HOME_HELP)
    .option('--yes', 'generate without asking for confirmation')
    .option('--json', 'print the result as JSON')
    .action(async (flags: KeygenFlags) => {
      await runCommand(flags.json === true, () => keygen(flags));
    });
}

async function verify(flags: HsmFlags): Promise<void> {
  const { hsm, pin } = await readHsmSettings(flags.home);
  const logger = createCliLogger();
  if (hsm.failover !== undefined) {
    await verifyGroup(hsm, pin, flags.json === true, logger);
    return;
  }
  const { providerFile, keyLabel, auditKeyLabel } = hsm;
  const access = {
    library: providerFile.library,
    slot: providerFile.slot,
    pin,
    keyWrap: hsm.keyWrap,
  };

  const inspection = await runTokenTool('inspect', { ...access, keyLabel }, logger);
  const auditKey = await runTokenTool('macInspect', { ...access, keyLabel: auditKeyLabel }, logger);

  if (flags.json === true) {
    const output = {
      library: providerFile.library,
      keyLabel,
      ...inspection,
      auditKeyLabel,
      auditKey,
    };
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } else {
    process.stdout.write(describeInspection(inspection, providerFile.library, keyLabel));
    process.stdout.write(
      auditKey.usable
        ? `Audit checkpoint key '${auditKeyLabel}' is usable: ${auditKey.algorithm}.\n`
        : `Audit checkpoint key '${auditKeyLabel}' is not usable (${auditKey.error.code}).\n`,
    );
  }

  for (const key of [inspection.masterKey, auditKey]) {
    if (key.usable) {
      continue;
    }
    const { code, message, details } = key.error;
    if (flags.json !== true) {
      printError(new StrongroomError(code, message, { details }), false);
    }
    process.exitCode = EXIT.failed;
  }
}

/** Loads the HSM settings and the PIN the way the service does (see resolveHsmPin). */
export async function readHsmSettings(
  homeOption: string | undefined,
): Promise<{ config: StrongroomConfig; hsm: HsmConfig; pin: string }> {
  const config = await loadConfig(resolveHome(homeOption));
  if (config.hsm === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${config.layout.securityProperties}: hsm.provider.configPath is not set, so no HSM is configured. ` +
        `Point it at the PKCS#11 provider file and set hsm.keystore.alias.`,
    );
  }
  return { config, hsm: config.hsm, pin: await resolveHsmPin(config.hsm) };
}

/** Formats the listing in the spirit of `pkcs11-tool --list-objects`, then the master key's outcome. */
export function describeInspection(
  inspection: TokenInspection,
  library: string,
  keyLabel: string,
): string {
  const lines = [
    `Token '${inspection.tokenLabel}' at slot ID ${inspection.slotId} (slot index ${inspection.slotIndex}), module ${library}`,
    `${inspection.objects.length} object(s):`,
    ...inspection.objects.flatMap(describeObject),
  ];

  const { masterKey } = inspection;
  if (!masterKey.usable) {
    lines.push(`Master key '${keyLabel}' is not usable (${masterKey.error.code}).`);
  } else if (masterKey.keyWrap === 'ecb-rfc3394') {
    lines.push(
      `Master key '${keyLabel}' is usable: ${masterKey.mechanism} computed over CKM_AES_ECB (strongroom.hsm.keyWrap), check value ${masterKey.kcv}.`,
    );
  } else {
    lines.push(
      `Master key '${keyLabel}' is usable: ${masterKey.mechanism}, check value ${masterKey.kcv}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function describeObject(object: TokenObject): string[] {
  const type = [object.keyType, object.bits === undefined ? undefined : `${object.bits} bits`]
    .filter((part) => part !== undefined)
    .join(', ');
  return [
    `${object.class}${type === '' ? '' : `; ${type}`}`,
    `  label:  ${object.label}`,
    `  ID:     ${object.id}`,
    `  Usage:  ${object.usage.join(', ') || 'none'}`,
    `  Access: ${object.access.join(', ') || 'none'}`,
  ];
}
