import { createHmac, randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { StrongroomError } from '../../errors.js';
import { writeNewFile } from '../../lib/new-file.js';
import { AES_256_KEY_BYTES } from '../../crypto/aes-gcm.js';

/**
 * Reads a master key file: 32 raw bytes, or the key in base64 or hex on one line. The file must be
 * owned by the service user and have no group or other permissions (mode 0600 or stricter).
 */
export async function readKeyFile(path: string): Promise<Buffer> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new StrongroomError(
        'SR_KEYFILE_MISSING',
        `Master key file ${path} does not exist. Restore it from your key backup, or correct strongroom.keyFile in security.properties; a new home folder gets one from 'strongroom init'.`,
        { details: { path } },
      );
    }
    throw error;
  });
  if (!info.isFile()) {
    throw new StrongroomError(
      'SR_KEYFILE_INVALID',
      `Master key file ${path} is ${info.isDirectory() ? 'a directory' : 'not a regular file'}. Set strongroom.keyFile in security.properties to the path of the key file itself.`,
      { details: { path } },
    );
  }

  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new StrongroomError(
      'SR_KEYFILE_PERMISSIONS',
      `Master key file ${path} has mode ${mode.toString(8).padStart(4, '0')}, so other users can read it. Run 'chmod 600 ${path}'.`,
      { details: { path, mode: mode.toString(8) } },
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new StrongroomError(
      'SR_KEYFILE_PERMISSIONS',
      `Master key file ${path} is owned by uid ${info.uid}, but Strongroom runs as uid ${uid}. Run 'chown' to give it to the service user.`,
      { details: { path, owner: info.uid } },
    );
  }

  const content = await readSmallFile(path);
  try {
    return decodeKey(content, path);
  } finally {
    content.fill(0);
  }
}

/** Creates a new key file with a random key, mode 0600, failing if the file exists. */
export async function createKeyFile(path: string): Promise<void> {
  const key = randomBytes(AES_256_KEY_BYTES);
  const text = Buffer.from(`${key.toString('base64')}\n`, 'utf8');
  try {
    await writeNewFile(path, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new StrongroomError(
        'SR_KEYFILE_EXISTS',
        `Master key file ${path} exists; Strongroom never overwrites a master key. Move it away first if you mean to replace it.`,
      );
    }
    throw error;
  } finally {
    key.fill(0);
    text.fill(0);
  }
}

/**
 * Derives the public id of a file key: 16 hex digits of an HMAC under the key, so two key files
 * can be distinguished in DEK rows without revealing anything about the key.
 */
export function fileKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('strongroom/file-key-id/v1').digest('hex').slice(0, 16);
}

async function readSmallFile(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function decodeKey(content: Buffer, path: string): Buffer {
  if (content.length === AES_256_KEY_BYTES) {
    return Buffer.from(content);
  }

  const text = content.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) {
    return Buffer.from(text, 'hex');
  }
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    return Buffer.from(text, 'base64');
  }

  throw new StrongroomError(
    'SR_KEYFILE_INVALID',
    `Master key file ${path} does not contain a 32-byte key (raw, base64 or hex). Restore it from your key backup.`,
    { details: { path, bytes: content.length } },
  );
}
