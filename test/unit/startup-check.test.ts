import { describe, expect, it } from 'vitest';
import { checkStoredKeys } from '../../src/keys/startup-check.js';
import type { MasterKeyRef } from '../../src/keys/types.js';
import { StrongroomError } from '../../src/errors.js';

const fileKey: MasterKeyRef = { provider: 'file', keyId: '0123456789abcdef', kcv: 'aaaaaa' };
const otherFileKey: MasterKeyRef = { provider: 'file', keyId: 'fedcba9876543210', kcv: 'bbbbbb' };
const hsmKey: MasterKeyRef = { provider: 'hsm', keyId: 'pam-master-key', kcv: 'cccccc' };

function rejection(run: () => unknown): StrongroomError {
  try {
    run();
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected the start-up check to refuse');
}

describe('start-up key check', () => {
  it('accepts an empty database and DEKs under the active key', () => {
    expect(checkStoredKeys([], fileKey, [fileKey])).toEqual([]);
    expect(checkStoredKeys([{ ref: hsmKey, count: 3 }], hsmKey, [hsmKey])).toEqual([]);
  });

  it('refuses file over DEKs wrapped by the HSM key', () => {
    const error = rejection(() =>
      checkStoredKeys([{ ref: hsmKey, count: 12 }], fileKey, [fileKey]),
    );
    expect(error.code).toBe('SR_KEY_PROVIDER_MISMATCH');
    expect(error.message).toContain(
      "12 stored DEKs are wrapped by HSM key 'pam-master-key' (check value cccccc)",
    );
    expect(error.message).toContain('kron.crypto.keyProvider = hsm');
    expect(error.message).toContain('strongroom dek migrate --to file');
  });

  it('refuses the switch even when both providers are open', () => {
    const error = rejection(() =>
      checkStoredKeys([{ ref: hsmKey, count: 2 }], fileKey, [fileKey, hsmKey]),
    );
    expect(error.code).toBe('SR_KEY_PROVIDER_MISMATCH');
  });

  it('refuses a replaced key file and names the old key', () => {
    const error = rejection(() =>
      checkStoredKeys([{ ref: otherFileKey, count: 1 }], fileKey, [fileKey]),
    );
    expect(error.message).toContain("file key 'fedcba9876543210'");
    expect(error.message).toContain('Restore the key file');
  });

  it('accepts a half-done migration with a warning', () => {
    const warnings = checkStoredKeys(
      [
        { ref: fileKey, count: 4 },
        { ref: hsmKey, count: 6 },
      ],
      hsmKey,
      [hsmKey, fileKey],
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("4 DEKs are still wrapped by file key '0123456789abcdef'");
  });

  it('warns of a half-done renewal', () => {
    const warnings = checkStoredKeys(
      [
        { ref: fileKey, count: 4 },
        { ref: otherFileKey, count: 6 },
      ],
      fileKey,
      [fileKey, otherFileKey],
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("6 DEKs are wrapped by file key 'fedcba9876543210'");
    expect(warnings[0]).toContain("run 'strongroom dek renew' to it again");
    expect(warnings[0]).toContain(
      "'strongroom dek renew --from-key-file OLD.key --key-file ACTIVE.key'",
    );
  });

  it('names both HSM labels for a half-done renewal', () => {
    const renewed: MasterKeyRef = { provider: 'hsm', keyId: 'pam-master-key-2027', kcv: 'dddddd' };
    const warnings = checkStoredKeys(
      [
        { ref: hsmKey, count: 2 },
        { ref: renewed, count: 8 },
      ],
      renewed,
      [hsmKey, renewed],
    );

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      "'strongroom dek renew --from-hsm-key-label pam-master-key --hsm-key-label pam-master-key-2027'",
    );
  });

  it('refuses a half-done migration when the other key is not open', () => {
    const error = rejection(() =>
      checkStoredKeys(
        [
          { ref: fileKey, count: 4 },
          { ref: hsmKey, count: 6 },
        ],
        hsmKey,
        [hsmKey],
      ),
    );
    expect(error.code).toBe('SR_KEY_PROVIDER_MISMATCH');
    expect(error.message).toContain('Configure the file provider beside the hsm provider');
  });
});
