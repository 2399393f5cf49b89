import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { StrongroomError } from '../errors.js';
import { writeNewFile } from '../lib/new-file.js';
import { openGcm, sealGcm } from '../crypto/aes-gcm.js';

/** Prefix of a sealed value in security.properties, with the format version. */
const SEALED_PREFIX = 'sealed:v1:';

/** Paths of the host's machine ID as systemd and D-Bus keep it; the first that exists is used. */
export const MACHINE_ID_PATHS = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

/** Binding of a sealed PIN: the host's machine ID and a random key beside the properties file. */
export interface SealContext {
  sealKeyPath: string;
  machineIdPaths?: readonly string[];
}

/** Tells whether a property value is a sealed PIN written by `hsm register`. */
export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/**
 * Seals a PIN for security.properties: AES-256-GCM under a key derived (HKDF-SHA256, RFC 5869)
 * from the host's machine ID and a random 32-byte seal key file (mode 0600, created on first use).
 * A copy of security.properties is useless on another host, and without the seal key file even
 * on this one. The value carries a short tag of the host, so that a copy can be recognised.
 */
export async function sealPin(pin: string, context: SealContext): Promise<string> {
  const machineId = await readMachineId(context);
  const sealKey = await readOrCreateSealKey(context.sealKeyPath);
  const key = deriveKey(machineId, sealKey);
  const plaintext = Buffer.from(pin, 'utf8');
  try {
    const sealed = sealGcm(key, plaintext, Buffer.from(SEALED_PREFIX, 'ascii'));
    return `${SEALED_PREFIX}${hostTag(machineId)}:${sealed.toString('base64url')}`;
  } finally {
    key.fill(0);
    sealKey.fill(0);
    plaintext.fill(0);
  }
}

/** Opens a value written by sealPin on this host; a copy from another host gets a clear error. */
export async function unsealPin(value: string, context: SealContext): Promise<string> {
  const [tag, body] = value.slice(SEALED_PREFIX.length).split(':');
  if (!isSealed(value) || tag === undefined || body === undefined || body === '') {
    throw new StrongroomError(
      'SR_HSM_PIN_SEAL_INVALID',
      "The sealed HSM PIN in security.properties is malformed. Run 'strongroom hsm register' to write it again.",
    );
  }

  const machineId = await readMachineId(context);
  if (tag !== hostTag(machineId)) {
    throw new StrongroomError(
      'SR_HSM_PIN_SEALED_ELSEWHERE',
      "The HSM PIN in security.properties was sealed on another host, so it cannot be used here. Run 'strongroom hsm register' on this host.",
    );
  }

  const sealKey = await readSealKey(context.sealKeyPath);
  const key = deriveKey(machineId, sealKey);
  try {
    const plaintext = openGcm(
      key,
      Buffer.from(body, 'base64url'),
      Buffer.from(SEALED_PREFIX, 'ascii'),
    );
    const pin = plaintext.toString('utf8');
    plaintext.fill(0);
    return pin;
  } catch {
    throw new StrongroomError(
      'SR_HSM_PIN_SEAL_INVALID',
      `The sealed HSM PIN does not open with the seal key ${context.sealKeyPath}. Run 'strongroom hsm register' to seal the PIN again.`,
    );
  } finally {
    key.fill(0);
    sealKey.fill(0);
  }
}

function deriveKey(machineId: string, sealKey: Buffer): Buffer {
  const material = Buffer.concat([Buffer.from(machineId, 'utf8'), sealKey]);
  try {
    return Buffer.from(hkdfSync('sha256', material, 'strongroom/pin-seal/v1', 'hsm user pin', 32));
  } finally {
    material.fill(0);
  }
}

/** Returns 8 hex digits that identify the host without revealing its machine ID. */
function hostTag(machineId: string): string {
  return createHmac('sha256', machineId).update('strongroom/host-tag/v1').digest('hex').slice(0, 8);
}

async function readMachineId(context: SealContext): Promise<string> {
  for (const path of context.machineIdPaths ?? MACHINE_ID_PATHS) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined && text.trim() !== '') {
      return text.trim();
    }
  }
  throw new StrongroomError(
    'SR_HSM_PIN_SEAL_INVALID',
    `This host has no machine ID in ${(context.machineIdPaths ?? MACHINE_ID_PATHS).join(' or ')}, which sealing the PIN needs. Run 'systemd-machine-id-setup', or use STRONGROOM_HSM_PIN_FILE instead.`,
  );
}

async function readSealKey(path: string): Promise<Buffer> {
  const key = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new StrongroomError(
      'SR_HSM_PIN_SEAL_INVALID',
      `The seal key ${path} cannot be read (${error.code ?? error.message}), so the sealed PIN cannot be opened. Run 'strongroom hsm register' to seal the PIN again.`,
    );
  });
  if (key.length !== 32) {
    throw new StrongroomError(
      'SR_HSM_PIN_SEAL_INVALID',
      `The seal key ${path} is not 32 bytes long. Run 'strongroom hsm register' to seal the PIN again.`,
    );
  }
  return key;
}

async function readOrCreateSealKey(path: string): Promise<Buffer> {
  const key = randomBytes(32);
  try {
    await writeNewFile(path, key);
    return key;
  } catch (error) {
    key.fill(0);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return readSealKey(path);
    }
    throw error;
  }
}
