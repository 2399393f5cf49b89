import type { HsmLog } from './hsm-log.js';

/**
 * Tells whether a PIN or label uses only printable ASCII. Java's SunPKCS11 and Node's pkcs11js
 * encode other characters differently (UTF-16 code units against UTF-8 bytes), so a PIN or label
 * set with one stack may not match when read with the other.
 */
export function isPortableText(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/**
 * Logs a warning when a PIN or label is not printable ASCII. The warning names only the kind of
 * text (`description`, such as "the HSM user PIN"), never the text itself, because it may be a PIN.
 */
export function warnIfNotPortable(log: HsmLog, description: string, text: string): void {
  if (isPortableText(text)) {
    return;
  }
  log.warn(
    `${description} contains characters outside printable ASCII, which other PKCS#11 stacks may encode differently`,
    {
      field: description,
    },
  );
}
