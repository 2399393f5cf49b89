import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { CheckResult } from './types.js';

/** Checks that a file exists and is owned by the user running the command. */
export async function checkPresent(name: string, path: string, fix: string): Promise<CheckResult> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    return { name, status: 'failed', message: `${path} does not exist.`, fix };
  }
  return { name, status: 'ok', message: `${path} exists.` };
}

/**
 * Checks that a secret file (the key file, security.properties) is a regular file with mode 0600 or
 * stricter that belongs to the user that runs Strongroom, because the service refuses a key file
 * others can read. `setting` names the property that points at the file, for the fix.
 */
export async function checkSecretFileMode(
  name: string,
  path: string,
  setting?: string,
): Promise<CheckResult> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    return { name, status: 'failed', message: `${path} does not exist.` };
  }
  if (!info.isFile()) {
    return {
      name,
      status: 'failed',
      message: `${path} is ${info.isDirectory() ? 'a directory' : 'not a regular file'}.`,
      fix:
        setting === undefined
          ? `Replace ${path} with the file itself.`
          : `Set ${setting} to the path of the file itself.`,
    };
  }

  const mode = info.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if ((mode & 0o077) !== 0) {
    return {
      name,
      status: 'failed',
      message: `${path} has mode ${octal}, so other users can access it.`,
      fix: `chmod 600 ${path}`,
    };
  }
  return ownerResult(name, path, info.uid, `${path} has mode ${octal}.`);
}

/** Checks that the PKCS#11 library cannot be replaced by a member of its group or by other users. */
export async function checkLibraryMode(name: string, path: string): Promise<CheckResult> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    return {
      name,
      status: 'failed',
      message: `PKCS#11 library ${path} does not exist.`,
      fix: 'Install the HSM client package, or set library in the PKCS#11 provider file to the path of the module.',
    };
  }

  const mode = info.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if ((mode & 0o022) !== 0) {
    return {
      name,
      status: 'failed',
      message: `PKCS#11 library ${path} has mode ${octal}, so users other than its owner can replace the code that handles the PIN.`,
      fix: `chmod go-w ${path}`,
    };
  }
  if (info.uid !== 0 && info.uid !== process.getuid?.()) {
    return {
      name,
      status: 'warning',
      message: `PKCS#11 library ${path} belongs to user ID ${info.uid}, which is neither root nor the user running Strongroom.`,
      fix: `chown root ${path}`,
    };
  }
  return { name, status: 'ok', message: `PKCS#11 library ${path} has mode ${octal}.` };
}

/** Checks that a file named by an environment variable can be read. */
export async function checkReadable(name: string, path: string, fix: string): Promise<CheckResult> {
  try {
    await access(path, constants.R_OK);
    return { name, status: 'ok', message: `${path} is readable.` };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    return { name, status: 'failed', message: `${path} cannot be read: ${reason}.`, fix };
  }
}

function ownerResult(name: string, path: string, uid: number, okMessage: string): CheckResult {
  const current = process.getuid?.();
  if (current !== undefined && uid !== current) {
    return {
      name,
      status: 'warning',
      message: `${path} belongs to user ID ${uid}, but Strongroom runs as user ID ${current}.`,
      fix: `chown ${current} ${path}, or run Strongroom as the owner of the file`,
    };
  }
  return { name, status: 'ok', message: okMessage };
}
