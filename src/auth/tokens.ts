import { createHash, randomBytes } from 'node:crypto';

const TOKEN_BYTES = 32;

/** 32 bytes in unpadded base64url are 43 characters. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Generates a bearer token: 32 random bytes, base64url without padding. */
export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * Returns the hex SHA-256 of a token, the only form the database stores. A plain hash is enough
 * because the token has 256 bits of entropy, so it cannot be guessed from its hash.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Tells whether a string has the shape of a token, so that malformed values skip the database. */
export function isWellFormedToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}
