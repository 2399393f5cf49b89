import { StrongroomError } from '../errors.js';
import { findSshPrivateKeyProblem } from './ssh-private-key.js';

export const SECRET_TYPES = ['password', 'ssh-private-key'] as const;

/** The kind of a secret: a password, or an SSH private key in the OpenSSH format or PEM. */
export type SecretType = (typeof SECRET_TYPES)[number];

/** Maximum length of a secret in characters. A 4096-bit RSA private key in PEM takes about 3.3 KB. */
export const SECRET_MAX_LENGTH = 16_384;

export function isSecretType(value: string): value is SecretType {
  return (SECRET_TYPES as readonly string[]).includes(value);
}

/**
 * Returns what is wrong with a secret of the given type, or undefined when it is acceptable. The
 * result names the problem and never contains any part of the secret.
 */
export function findSecretProblem(secretType: string, secret: string): string | undefined {
  if (!isSecretType(secretType)) {
    return `the secret type '${secretType}' is unknown; use one of ${SECRET_TYPES.join(', ')}`;
  }
  if (secret.length === 0) {
    return 'the secret is empty';
  }
  if (secret.length > SECRET_MAX_LENGTH) {
    return `the secret has ${secret.length} characters, more than the maximum ${SECRET_MAX_LENGTH}`;
  }
  return secretType === 'ssh-private-key' ? findSshPrivateKeyProblem(secret) : undefined;
}

/** Throws SR_SECRET_INVALID, without the secret, unless the secret fits its type. */
export function assertValidSecret(
  secretType: string,
  secret: string,
): asserts secretType is SecretType {
  const problem = findSecretProblem(secretType, secret);
  if (problem !== undefined) {
    throw new StrongroomError(
      'SR_SECRET_INVALID',
      `The secret was rejected: ${problem}. Send a password, or an SSH private key in the OpenSSH format or PEM with secret type ssh-private-key.`,
      { details: { secretType } },
    );
  }
}
