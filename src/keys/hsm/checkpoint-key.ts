import { StrongroomError } from '../../errors.js';
import type { CheckpointMacKey } from '../mac-key.js';
import { AUDIT_KEYGEN_COMMAND } from './mac-key.js';
import type { HsmProvider } from './provider.js';

/** A provider that computes MACs with other keys on its token: one HSM, or a failover group. */
export type TokenMacProvider = Pick<HsmProvider, 'ref' | 'signWithKey' | 'verifyWithKey'>;

/** Data MAC'd once on open, so that a missing or unusable key fails the start, not a checkpoint. */
const PROBE = Buffer.from('strongroom audit key probe', 'ascii');

/**
 * Opens the audit checkpoint key labelled `keyLabel` on the token of an open HSM provider. Every MAC
 * is made and checked on the token by the provider's PKCS#11 worker. Throws SR_AUDIT_KEY_NOT_FOUND
 * or SR_AUDIT_KEY_INVALID when the key is missing or unusable.
 */
export async function openHsmCheckpointKey(
  provider: TokenMacProvider,
  keyLabel: string,
): Promise<CheckpointMacKey> {
  const masterKeyLabel = provider.ref().keyId;
  if (keyLabel === masterKeyLabel) {
    throw new StrongroomError(
      'SR_AUDIT_KEY_INVALID',
      `the audit checkpoint key label '${keyLabel}' is the label of the master key, but checkpoints need a key of their own. Create one with '${AUDIT_KEYGEN_COMMAND}' and set strongroom.audit.keyLabel to its label.`,
      { details: { keyLabel } },
    );
  }
  const { algorithm } = await provider.signWithKey(keyLabel, PROBE);
  return {
    provider: 'hsm',
    keyId: keyLabel,
    algorithm,
    sign: async (data) => (await provider.signWithKey(keyLabel, data)).mac,
    verify: async (data, mac) => (await provider.verifyWithKey(keyLabel, data, mac)).valid,
    // The provider belongs to the keyring, which closes it.
    close: async () => undefined,
  };
}
