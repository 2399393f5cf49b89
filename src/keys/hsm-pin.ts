import { readFile } from 'node:fs/promises';
import { StrongroomError } from '../errors.js';

/**
 * Reads the HSM user PIN from STRONGROOM_HSM_PIN, or from the file named by
 * STRONGROOM_HSM_PIN_FILE (for systemd's LoadCredential=). A single trailing line break in the file
 * is dropped; any other character belongs to the PIN.
 */
export async function readHsmPin(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const direct = env['STRONGROOM_HSM_PIN'];
  if (direct !== undefined && direct !== '') {
    return direct;
  }

  const file = env['STRONGROOM_HSM_PIN_FILE'];
  if (file !== undefined && file !== '') {
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new StrongroomError(
        'SR_HSM_PIN_MISSING',
        `HSM PIN file ${file} (STRONGROOM_HSM_PIN_FILE) cannot be read: ${error.code ?? error.message}.`,
      );
    });
    const pin = text.replace(/\r?\n$/, '');
    if (pin !== '') {
      return pin;
    }
    throw new StrongroomError(
      'SR_HSM_PIN_MISSING',
      `HSM PIN file ${file} (STRONGROOM_HSM_PIN_FILE) is empty.`,
    );
  }

  throw new StrongroomError(
    'SR_HSM_PIN_MISSING',
    'No HSM PIN was supplied. Set STRONGROOM_HSM_PIN_FILE to a file that contains the user PIN (mode 0600), or STRONGROOM_HSM_PIN.',
  );
}
