import * as OTPAuth from 'otpauth';

import { StrongroomError } from '../errors.js';

/** RFC 6238 parameters that authenticator apps expect by default: HMAC-SHA-1, 30 s, 6 digits. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Codes of one step before or after the current one are accepted, for clock skew of up to 30 s. */
export const TOTP_SKEW_STEPS = 1;
/** 160 bits, the secret length that RFC 4226 section 4 recommends. */
const SECRET_BYTES = 20;
const ISSUER = 'Strongroom';

const CODE_PATTERN = /^[0-9]{6}$/;

/** Generates a random TOTP secret and returns it in base32, the form authenticator apps take. */
export function generateTotpSecret(): string {
  return new OTPAuth.Secret({ size: SECRET_BYTES }).base32;
}

/** Builds the otpauth:// URI that an authenticator app reads, usually from a QR code. */
export function totpUri(secretBase32: string, username: string): string {
  return createTotp(secretBase32, username).toString();
}

/** Returns the code for `at`. Tests and the quick start use it; login only verifies codes. */
export function generateTotpCode(secretBase32: string, at: Date): string {
  return createTotp(secretBase32, '').generate({ timestamp: at.getTime() });
}

/**
 * Checks a code against the secret within the skew window and returns the time step it belongs to,
 * or undefined when it matches none. The caller stores the step, so a code is accepted once only.
 */
export function matchTotpCode(secretBase32: string, code: string, at: Date): number | undefined {
  if (!CODE_PATTERN.test(code)) {
    return undefined;
  }

  const delta = createTotp(secretBase32, '').validate({
    token: code,
    timestamp: at.getTime(),
    window: TOTP_SKEW_STEPS,
  });
  if (delta === null) {
    return undefined;
  }
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS) + delta;
}

/** Throws SR_VALIDATION_FAILED unless the code has 6 digits. The message never shows the code. */
export function assertTotpCodeShape(code: string, field: string): void {
  if (!CODE_PATTERN.test(code)) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      `The field ${field} must be the ${TOTP_DIGITS}-digit code that the authenticator app shows.`,
      { details: { field } },
    );
  }
}

function createTotp(secretBase32: string, username: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: ISSUER,
    label: username,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: OTPAuth.Secret.fromBase32(secretBase32),
  });
}
