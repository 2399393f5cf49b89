import { generateToken, isWellFormedToken } from '../auth/tokens.js';

/**
 * The prefix that distinguishes an application API token from a login session token at a glance, in a
 * header, a secret scanner or a support ticket. The rest is a session-style token: 32 random bytes
 * in unpadded base64url.
 */
export const API_TOKEN_PREFIX = 'sra_';

/** Generates an API token: the prefix and 256 random bits. */
export function generateApiToken(): string {
  return `${API_TOKEN_PREFIX}${generateToken()}`;
}

/** Tells whether a string has the shape of an API token. */
export function isApiTokenShaped(value: string): boolean {
  return (
    value.startsWith(API_TOKEN_PREFIX) && isWellFormedToken(value.slice(API_TOKEN_PREFIX.length))
  );
}

/** Tells whether a string has the shape of a login session token. */
export function isSessionTokenShaped(value: string): boolean {
  return isWellFormedToken(value);
}
