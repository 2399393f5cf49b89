import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

import type { CheckpointMacKey } from '../mac-key.js';
import { readKeyFile } from './key-file.js';

/** HKDF info of the checkpoint key; no other key derived from the file key uses it. */
const CHECKPOINT_KEY_INFO = 'strongroom/audit-checkpoint-key/v1';
const CHECKPOINT_KEY_BYTES = 32;

/**
 * Opens the audit checkpoint key of the file provider: HKDF-SHA256 (RFC 5869) over the file master
 * key with an empty salt and its own info string, used for HMAC-SHA256. The master key itself is
 * zeroed as soon as the derived key exists.
 */
export async function openFileCheckpointKey(path: string): Promise<CheckpointMacKey> {
  const masterKey = await readKeyFile(path);
  let key: Buffer;
  try {
    key = deriveCheckpointKey(masterKey);
  } finally {
    masterKey.fill(0);
  }
  const keyId = createHmac('sha256', key)
    .update('strongroom/audit-checkpoint-key-id/v1')
    .digest('hex')
    .slice(0, 16);

  const sign = (data: Buffer): Buffer => createHmac('sha256', key).update(data).digest();
  return {
    provider: 'file',
    keyId,
    algorithm: 'hmac-sha256',
    sign: async (data) => sign(data),
    verify: async (data, mac) => {
      const expected = sign(data);
      return mac.length === expected.length && timingSafeEqual(mac, expected);
    },
    close: async () => {
      key.fill(0);
    },
  };
}

/** Derives the 32-byte checkpoint key from a file master key. */
export function deriveCheckpointKey(masterKey: Buffer): Buffer {
  return Buffer.from(
    hkdfSync('sha256', masterKey, Buffer.alloc(0), CHECKPOINT_KEY_INFO, CHECKPOINT_KEY_BYTES),
  );
}
