import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { slotIdOf } from '../../src/keys/hsm/slot-selection.js';
import type { SoftHsmFixture } from './softhsm.js';

/** A SoftHSM token folder: one folder per token inside the tokendir of softhsm2.conf. */
export interface TokenFolder {
  path: string;
  slotId: number;
  serial: string;
}

/**
 * Copies the token in `source` to a new folder in the same tokendir, so that a second slot contains
 * the same objects (the master key and the audit key). SoftHSM 2.6.1 derives the slot ID from the
 * token serial number and stops with a failed assertion in SlotManager::insertToken when two
 * tokens have one serial, so the copy gets a new serial in token.object. Its label stays equal,
 * so members select the copies by slot ID. Call it while no provider has the module loaded:
 * SoftHSM reads the tokendir in C_Initialize.
 */
export async function copyTokenFolder(
  fixture: SoftHsmFixture,
  source: TokenFolder,
): Promise<TokenFolder> {
  const serial = randomBytes(8).toString('hex');
  const path = join(fixture.directory, 'tokens', `copy-${serial}`);
  await cp(source.path, path, { recursive: true });

  const objectFile = join(path, 'token.object');
  const bytes = await readFile(objectFile);
  const at = bytes.indexOf(Buffer.from(source.serial, 'ascii'));
  if (at < 0 || source.serial.length !== serial.length) {
    throw new Error(`token.object in ${source.path} does not contain serial ${source.serial}`);
  }
  bytes.write(serial, at, 'ascii');
  await writeFile(objectFile, bytes);

  const slotId = listSerials(fixture.configPath).get(serial);
  if (slotId === undefined) {
    throw new Error(`softhsm2-util --show-slots does not list the copied token ${serial}`);
  }
  return { path, slotId, serial };
}

/** Finds the folder of the token in slot `slotId` by the serial number that SoftHSM reports. */
export async function findTokenFolder(
  fixture: SoftHsmFixture,
  slotId: number,
): Promise<TokenFolder> {
  const serial = [...listSerials(fixture.configPath)].find(([, id]) => id === slotId)?.[0];
  if (serial === undefined) {
    throw new Error(`softhsm2-util --show-slots does not list slot ${slotId}`);
  }
  const tokens = join(fixture.directory, 'tokens');
  for (const name of await readdir(tokens)) {
    const objectFile = await readFile(join(tokens, name, 'token.object')).catch(() => undefined);
    if (objectFile?.includes(Buffer.from(serial, 'ascii')) === true) {
      return { path: join(tokens, name), slotId, serial };
    }
  }
  throw new Error(`no folder in ${tokens} contains the token with serial ${serial}`);
}

/** Moves a token folder out of the tokendir, as a removed token, and returns how to put it back. */
export async function removeTokenFolder(
  fixture: SoftHsmFixture,
  folder: TokenFolder,
): Promise<() => Promise<void>> {
  const aside = join(fixture.directory, `removed-${folder.serial}`);
  await rename(folder.path, aside);
  return () => rename(aside, folder.path);
}

/**
 * Closes every session on a slot through the module instance of this process, which the worker
 * threads of the providers share (a library is loaded once per process). The sessions of the
 * provider on that slot become invalid (CKR_SESSION_HANDLE_INVALID), as after an HSM restart.
 */
export function closeAllSessions(library: string, slotId: number): void {
  withModule(library, (pkcs11) => pkcs11.C_CloseAllSessions(findSlot(pkcs11, slotId)));
}

/**
 * Runs `body` with `library` loaded and initialised in this thread. A module that this call
 * initialised is finalised again afterwards, so that the test process never exits with a SoftHSM
 * instance that no provider finalises. A module that a provider initialised stays as it is.
 */
function withModule(library: string, body: (pkcs11: pkcs11js.PKCS11) => void): void {
  const pkcs11 = new pkcs11js.PKCS11();
  pkcs11.load(library);
  let initializedHere = true;
  try {
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if ((error as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      throw error;
    }
    initializedHere = false;
  }
  try {
    body(pkcs11);
  } finally {
    if (initializedHere) {
      pkcs11.C_Finalize();
    }
  }
}

function findSlot(pkcs11: pkcs11js.PKCS11, slotId: number): Buffer {
  const handle = pkcs11.C_GetSlotList(false).find((slot) => slotIdOf(slot) === slotId);
  if (handle === undefined) {
    throw new Error(`slot ${slotId} is not in the slot list`);
  }
  return handle;
}

/**
 * Changes the user PIN of the token in slot `slotId` with C_SetPIN through the module instance of
 * this process. SoftHSM 2.6.1 keeps the PIN of a loaded token in memory, so a change made by
 * another process (pkcs11-tool) is not seen by the providers here.
 */
export function changeUserPin(
  library: string,
  slotId: number,
  oldPin: string,
  newPin: string,
): void {
  withModule(library, (pkcs11) => {
    const session = pkcs11.C_OpenSession(
      findSlot(pkcs11, slotId),
      pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
    );
    try {
      try {
        pkcs11.C_Login(session, pkcs11js.CKU_USER, oldPin);
      } catch (error) {
        // A provider in this process has logged the token in already: login state is per token.
        if ((error as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
          throw error;
        }
      }
      pkcs11.C_SetPIN(session, oldPin, newPin);
    } finally {
      pkcs11.C_CloseSession(session);
    }
  });
}

/** Maps each token serial number to its slot ID, from `softhsm2-util --show-slots`. */
function listSerials(configPath: string): Map<string, number> {
  const result = spawnSync('softhsm2-util', ['--show-slots'], {
    env: { ...process.env, SOFTHSM2_CONF: configPath },
    encoding: 'utf8',
  });
  const serials = new Map<string, number>();
  for (const block of result.stdout.split(/^Slot /m).slice(1)) {
    const id = /^(\d+)/.exec(block)?.[1];
    const serial = /Serial number:\s+(\S+)/.exec(block)?.[1];
    if (id !== undefined && serial !== undefined) {
      serials.set(serial, Number(id));
    }
  }
  return serials;
}
