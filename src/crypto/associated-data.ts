/**
 * Builds the associated data that binds each ciphertext to its row, so that rows cannot be swapped
 * or replayed. A version prefix and a purpose label keep the byte strings of different uses apart.
 * Each field is length-prefixed, so no two field lists encode to the same bytes.
 */
export function dekAssociatedData(dekId: string): Buffer {
  return encodeFields('strongroom/dek/v1', [dekId]);
}

export function secretAssociatedData(
  accountId: string,
  dekId: string,
  secretVersion: number,
): Buffer {
  return encodeFields('strongroom/secret/v1', [accountId, dekId, String(secretVersion)]);
}

export function canaryAssociatedData(provider: string, keyId: string): Buffer {
  return encodeFields('strongroom/canary/v1', [provider, keyId]);
}

function encodeFields(purpose: string, fields: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of [purpose, ...fields]) {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

/** Binds a sealed TOTP secret to its user and DEK, so that it cannot be moved to another user. */
export function totpAssociatedData(userId: string, dekId: string): Buffer {
  return encodeFields('strongroom/totp/v1', [userId, dekId]);
}
