import { randomBytes } from 'node:crypto';

import argon2 from 'argon2';

import { StrongroomError } from '../errors.js';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

/**
 * Argon2id parameters: 64 MiB of memory, 3 passes, 4 lanes. This is the second recommended option
 * of RFC 9106 section 4 and lies above the OWASP Password Storage Cheat Sheet minimum for argon2id
 * (19 MiB, 2 passes, 1 lane). The parameters are stored in each hash, so raising them later still
 * verifies old hashes.
 */
const HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 65_536,
  timeCost: 3,
  parallelism: 4,
} as const;

/**
 * Checks the password rules and throws SR_USER_INVALID naming the rule that failed. The message never
 * contains the password or its length.
 */
export function validatePassword(password: string): void {
  // Counted in Unicode code points, so that a character outside the BMP counts once.
  const length = [...password].length;

  if (length < PASSWORD_MIN_LENGTH) {
    throw new StrongroomError(
      'SR_USER_INVALID',
      `The password is too short: it must have at least ${PASSWORD_MIN_LENGTH} characters. Choose a longer password.`,
      { details: { rule: 'password.minLength' } },
    );
  }

  if (length > PASSWORD_MAX_LENGTH) {
    throw new StrongroomError(
      'SR_USER_INVALID',
      `The password is too long: it must have at most ${PASSWORD_MAX_LENGTH} characters. Choose a shorter password.`,
      { details: { rule: 'password.maxLength' } },
    );
  }
}

/** Hashes a password with argon2id and a random 16-byte salt, and returns the PHC string. */
export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, HASH_OPTIONS);
}

/**
 * Verifies a password against a PHC string. Returns false for a wrong password and throws only when
 * the stored hash is malformed.
 */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return argon2.verify(passwordHash, password);
}

let dummyHash: Promise<string> | undefined;

/**
 * Returns the hash of a random password, made once per process with the same parameters as real
 * hashes. Login verifies against it when the user does not exist, so that an unknown name costs the
 * same time as a wrong password and response times do not reveal which names exist.
 */
export function getDummyPasswordHash(): Promise<string> {
  dummyHash ??= argon2.hash(randomBytes(32).toString('base64url'), HASH_OPTIONS);
  return dummyHash;
}
