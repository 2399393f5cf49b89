import type { Command } from 'commander';
import { confirm } from '@inquirer/prompts';
import pino from 'pino';
import { resolveHome } from '../../config/home.js';
import { loadConfig, type HsmConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import { resolveHsmPin } from '../../keys/hsm-pin.js';
import { runTokenTool, type TokenInspection, type TokenObject } from '../../keys/hsm/index.js';
import { createLogger } from '../../logging.js';
import { registerHsmRegister } from './hsm-register.js';
import { EXIT, printError, runCommand } from '../output.js';

interface HsmFlags {
  home?: string;
  json?: boolean;
}

interface KeygenFlags extends HsmFlags {
  label: string;
  yes?: boolean;
}

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';

export function registerHsm(program: Command): void {
  const hsm = program.command('hsm').description('inspect the HSM token and its master key');

  hsm
    .command('verify')
    .description(
      'log in to the configured token, list its objects and check the master key; exit 0 only when the key is usable, 1 otherwise',
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
      'generate the AES-256 master key on the configured token (sensitive, never extractable); exit 0 when the new key is usable',
    )
    .requiredOption('--label <label>', 'CKA_LABEL of the new key, the value of hsm.keystore.alias')
    .option('--home <dir>', HOME_HELP)
    .option('--yes', 'generate without asking for confirmation')
    .option('--json', 'print the result as JSON')
    .action(async (flags: KeygenFlags) => {
      await runCommand(flags.json === true, () => keygen(flags));
    });
}

async function verify(flags: HsmFlags): Promise<void> {
  const { hsm, pin } = await readHsmSettings(flags.home);
  const logger = createLogger('warn', pino.destination(2));
  const { providerFile, keyLabel } = hsm;

  const inspection = await runTokenTool(
    'inspect',
    { library: providerFile.library, slot: providerFile.slot, pin, keyLabel },
    logger,
  );

  if (flags.json === true) {
    const output = { library: providerFile.library, keyLabel, ...inspection };
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } else {
    process.stdout.write(describeInspection(inspection, providerFile.library, keyLabel));
  }

  if (!inspection.masterKey.usable) {
    const { code, message, details } = inspection.masterKey.error;
    if (flags.json !== true) {
      printError(new StrongroomError(code, message, { details }), false);
    }
    process.exitCode = EXIT.failed;
  }
}

async function keygen(flags: KeygenFlags): Promise<void> {
  const label = flags.label;
  if (label === '' || label.trim() !== label) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `--label '${label}' is empty or starts or ends with a blank. Give the label without blanks around it.`,
    );
  }

  const { hsm, pin } = await readHsmSettings(flags.home);
  const { providerFile } = hsm;
  if (flags.yes !== true && !(await confirmKeygen(label, providerFile.library))) {
    process.exitCode = EXIT.usage;
    return;
  }

  const logger = createLogger('warn', pino.destination(2));
  const key = await runTokenTool(
    'keygen',
    { library: providerFile.library, slot: providerFile.slot, pin, keyLabel: label },
    logger,
  );

  if (flags.json === true) {
    process.stdout.write(
      `${JSON.stringify({ library: providerFile.library, keyLabel: label, ...key })}\n`,
    );
    return;
  }
  process.stdout.write(
    `Generated AES-256 key '${label}' (ID ${key.id}, check value ${key.kcv}) on the token '${key.tokenLabel}', slot ID ${key.slotId}.\n`,
  );
  if (hsm.keyLabel !== label) {
    process.stdout.write(
      `hsm.keystore.alias is '${hsm.keyLabel}'. Set it to '${label}' in security.properties to use the new key.\n`,
    );
  }
}

/** Asks for confirmation on a terminal. Without one, --yes is required, because no one can reply. */
async function confirmKeygen(label: string, library: string): Promise<boolean> {
  if (process.stdin.isTTY !== true) {
    process.stderr.write(
      'strongroom: hsm keygen changes the token and standard input is not a terminal. Add --yes to generate the key.\n',
    );
    return false;
  }
  return confirm({
    message: `Generate AES-256 key '${label}' on the token of ${library}?`,
    default: false,
  });
}

/** Loads the HSM settings and the PIN the way the service does: STRONGROOM_HSM_PIN or STRONGROOM_HSM_PIN_FILE. */
async function readHsmSettings(
  homeOption: string | undefined,
): Promise<{ hsm: HsmConfig; pin: string }> {
  const config = await loadConfig(resolveHome(homeOption));
  if (config.hsm === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${config.layout.securityProperties}: hsm.provider.configPath is not set, so no HSM is configured. ` +
        `Point it at the PKCS#11 provider file and set hsm.keystore.alias.`,
    );
  }
  return { hsm: config.hsm, pin: await resolveHsmPin(config.hsm) };
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
  lines.push(
    masterKey.usable
      ? `Master key '${keyLabel}' is usable: ${masterKey.mechanism}, check value ${masterKey.kcv}.`
      : `Master key '${keyLabel}' is not usable (${masterKey.error.code}).`,
  );
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
