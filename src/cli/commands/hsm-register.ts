import type { Command } from 'commander';
import { confirm, input, password, select } from '@inquirer/prompts';
import { resolveHome } from '../../config/home.js';
import { loadConfig, type HsmConfig, type StrongroomConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import { createHsmProvider } from '../../keys/hsm/index.js';
import { resolveHsmPin } from '../../keys/hsm-pin.js';
import { createCliLogger } from '../logger.js';
import { EXIT, readStdin, runCommand } from '../output.js';
import { saveRegistration, type Registration } from './hsm-register-save.js';

interface RegisterFlags {
  home?: string;
  alias?: string;
  pinStdin?: boolean;
  yes?: boolean;
  json?: boolean;
}

export function registerHsmRegister(hsm: Command): void {
  hsm
    .command('register')
    .description(
      'check the master key alias and the PIN against the HSM, then save them in security.properties with the PIN sealed to this host; without flags on a terminal, a menu',
    )
    .option('--home <dir>', 'home folder (default: $STRONGROOM_HOME or the current directory)')
    .option(
      '--alias <label>',
      'save this label as hsm.keystore.alias (the master key on the token)',
    )
    .option('--pin-stdin', 'read the user PIN from standard input and save it sealed')
    .option('--yes', 'write without asking for confirmation')
    .option('--json', 'print the result as JSON')
    .action(async (flags: RegisterFlags) => {
      await runCommand(flags.json === true, () => register(flags));
    });
}

async function register(flags: RegisterFlags): Promise<void> {
  const config = await loadConfig(resolveHome(flags.home));
  const hsm = requireHsm(config);
  const scripted = flags.alias !== undefined || flags.pinStdin === true;

  if (!scripted) {
    if (!process.stdin.isTTY) {
      throw new StrongroomError(
        'SR_CONFIG_VALUE_INVALID',
        'hsm register needs a terminal for its menu. In scripts, pass --alias LABEL and/or --pin-stdin with --yes.',
      );
    }
    await runMenu(config, hsm);
    return;
  }

  const pin = flags.pinStdin === true ? await readStdin() : undefined;
  const alias = flags.alias ?? hsm.keyLabel;
  const kcv = await proveAgainstHsm(config, hsm, alias, pin);
  if (flags.json !== true) {
    process.stdout.write(
      `The HSM key with label '${alias}' was found and is usable (check value ${kcv}).\n`,
    );
  }

  if (flags.yes !== true) {
    if (!process.stdin.isTTY || flags.pinStdin === true) {
      process.stderr.write(
        'strongroom: nothing written; pass --yes to write security.properties.\n',
      );
      process.exitCode = EXIT.usage;
      return;
    }
    if (
      !(await confirm({ message: `Overwrite ${config.layout.securityProperties}?`, default: true }))
    ) {
      return;
    }
  }

  await saveRegistration(config, hsm, { alias, pin });
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify({ alias, kcv, pinSealed: pin !== undefined })}\n`);
  } else {
    process.stdout.write(`${config.layout.securityProperties} was updated.\n`);
  }
}

/** Runs the registration menu, with its entries in the order of the integration guide's tool. */
async function runMenu(config: StrongroomConfig, initial: HsmConfig): Promise<void> {
  process.stdout.write(`Strongroom HSM registration: ${config.layout.securityProperties}\n`);
  let hsm = initial;
  let alias = hsm.keyLabel;

  for (;;) {
    const choice = await select({
      message: 'Choose an action',
      choices: [
        { name: '1) Save or update the master key alias', value: 'alias' },
        { name: '2) Update the passwords (HSM user PIN)', value: 'pin' },
        { name: '0) Exit', value: 'exit' },
      ],
    });
    if (choice === 'exit') {
      return;
    }

    const change: Registration =
      choice === 'alias'
        ? {
            alias: await input({ message: 'Master key alias (CKA_LABEL):', default: alias }),
            pin: undefined,
          }
        : { alias, pin: await askPin() };
    const kcv = await proveAgainstHsm(config, hsm, change.alias, change.pin).catch(
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        return undefined;
      },
    );
    if (kcv === undefined) {
      continue;
    }

    process.stdout.write(`HSM key found with alias ${change.alias} (check value ${kcv}).\n`);
    if (
      await confirm({
        message: 'Some parameters changed. Overwrite security.properties?',
        default: true,
      })
    ) {
      await saveRegistration(config, hsm, change);
      // Reloaded so that a PIN sealed just now is used when the alias changes next.
      hsm = requireHsm(await loadConfig(config.layout.home));
      alias = change.alias;
      process.stdout.write('security.properties was updated.\n');
    }
  }
}

async function askPin(): Promise<string> {
  const first = await password({ message: 'HSM user PIN (keystore load password):', mask: true });
  const second = await password({
    message: 'HSM user PIN again (keystore entry password):',
    mask: true,
  });
  if (first !== second) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      'The two PINs differ. Nothing was changed.',
    );
  }
  return first;
}

/**
 * Opens the HSM provider with the alias and PIN to register: the library loads, the token logs
 * in and exactly one usable AES-256 key has the label. Nothing is written unless this succeeds.
 * Returns the key check value.
 */
async function proveAgainstHsm(
  config: StrongroomConfig,
  hsm: HsmConfig,
  alias: string,
  pin: string | undefined,
): Promise<string> {
  const provider = createHsmProvider({
    library: hsm.providerFile.library,
    slot: hsm.providerFile.slot,
    keyLabel: alias,
    pin: pin ?? (await resolveHsmPin(hsm)),
    poolSize: 1,
    logger: createCliLogger(config.logLevel === 'debug' ? 'debug' : 'warn'),
  });
  try {
    await provider.open();
    return provider.ref().kcv;
  } finally {
    await provider.close();
  }
}

function requireHsm(config: StrongroomConfig): HsmConfig {
  if (config.hsm === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${config.layout.securityProperties} configures no HSM: set hsm.provider.configPath and hsm.keystore.alias first.`,
    );
  }
  return config.hsm;
}
