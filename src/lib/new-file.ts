import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Writes a file that must not exist yet, with mode 0600, and flushes it to disk. Fails with EEXIST
 * rather than replace a file, so that no key or setting is ever overwritten by accident.
 */
export async function writeNewFile(path: string, data: string | Buffer): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
