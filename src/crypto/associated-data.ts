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

/** Writes each field as its UTF-8 length (4 bytes, big-endian) and its UTF-8 bytes. */
function encodeFields(purpose: string, fields: string[]): Buffer {
  const all = [purpose, ...fields];
  const lengths = all.map((field) => Buffer.byteLength(field, 'utf8'));
  const encoded = Buffer.alloc(lengths.reduce((sum, length) => sum + 4 + length, 0));
  let offset = 0;
  all.forEach((field, index) => {
    offset = encoded.writeUInt32BE(lengths[index] as number, offset);
    offset += encoded.write(field, offset, 'utf8');
  });
  return encoded;
}

/** Binds a sealed TOTP secret to its user and DEK, so that it cannot be moved to another user. */
export function totpAssociatedData(userId: string, dekId: string): Buffer {
  return encodeFields('strongroom/totp/v1', [userId, dekId]);
}
