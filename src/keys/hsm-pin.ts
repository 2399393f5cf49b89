import { readFile, stat } from 'node:fs/promises';
import type { HsmConfig } from '../config/load.js';
import { StrongroomError } from '../errors.js';
import { unsealPin } from './pin-seal.js';

/**
 * Reads the HSM user PIN from the file named by STRONGROOM_HSM_PIN_FILE (for systemd's
 * LoadCredential=), or from STRONGROOM_HSM_PIN. Exactly one of them may be set, so that a stale
 * variable never silently wins over the file. A single trailing line break in the file is dropped;
 * any other character belongs to the PIN.
 */
export async function readHsmPin(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const direct = nonEmpty(env['STRONGROOM_HSM_PIN']);
  const file = nonEmpty(env['STRONGROOM_HSM_PIN_FILE']);

  if (direct !== undefined && file !== undefined) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      'Both STRONGROOM_HSM_PIN and STRONGROOM_HSM_PIN_FILE are set. Unset one of them, so that it is clear which PIN the HSM receives.',
    );
  }
  if (direct !== undefined) {
    return direct;
  }
  if (file !== undefined) {
    return readPinFile(file);
  }

  throw new StrongroomError(
    'SR_HSM_PIN_MISSING',
    "No HSM PIN was supplied. Set STRONGROOM_HSM_PIN_FILE to a file that contains the user PIN (mode 0600), or STRONGROOM_HSM_PIN, or save the PIN sealed with 'strongroom hsm register' once the master key exists.",
  );
}

async function readPinFile(file: string): Promise<string> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new StrongroomError(
      'SR_HSM_PIN_MISSING',
      `HSM PIN file ${file} (STRONGROOM_HSM_PIN_FILE) cannot be read: ${error.code ?? error.message}. Create it with the user PIN and mode 0600, or correct the variable.`,
    );
  });
  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new StrongroomError(
      'SR_HSM_PIN_FILE_PERMISSIONS',
      `HSM PIN file ${file} has mode ${mode.toString(8).padStart(4, '0')}, so other users can read the PIN. Run 'chmod 600 ${file}'.`,
      { details: { path: file, mode: mode.toString(8) } },
    );
  }

  const pin = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  if (pin === '') {
    throw new StrongroomError(
      'SR_HSM_PIN_MISSING',
      `HSM PIN file ${file} (STRONGROOM_HSM_PIN_FILE) is empty. Write the user PIN into it.`,
    );
  }
  return pin;
}

/**
 * Returns the HSM user PIN for a configured HSM: the PIN that `hsm register` sealed into
 * security.properties, or else the one from the environment (see readHsmPin). Both at once is an
 * error, so that a stale source never silently wins.
 */
export async function resolveHsmPin(
  hsm: HsmConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (hsm.sealedPin === undefined) {
    return readHsmPin(env);
  }

  const fromEnvironment = ['STRONGROOM_HSM_PIN', 'STRONGROOM_HSM_PIN_FILE'].filter(
    (name) => nonEmpty(env[name]) !== undefined,
  );
  if (fromEnvironment.length > 0) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `The HSM PIN is sealed in security.properties and also given in ${fromEnvironment.join(' and ')}. Unset the variable, or remove hsm.keystore.load.password to use it.`,
    );
  }
  return unsealPin(hsm.sealedPin, { sealKeyPath: hsm.sealKeyFile });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
