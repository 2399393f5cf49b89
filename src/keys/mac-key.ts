import type { ProviderKind } from './types.js';

/** The MAC of audit checkpoints: HMAC-SHA256 (file key, HSM generic secret) or AES-CMAC (HSM AES key). */
export type MacAlgorithm = 'hmac-sha256' | 'aes-cmac';

/**
 * The key that MACs audit checkpoints. It is never the master key: on an HSM it is a key of its own
 * on the same token, and with the file provider it is derived from the file key with HKDF.
 */
export interface CheckpointMacKey {
  readonly provider: ProviderKind;
  /** The HSM key label, or the public id of the key derived from the file key. */
  readonly keyId: string;
  readonly algorithm: MacAlgorithm;
  sign(data: Buffer): Promise<Buffer>;
  /** Returns false for a MAC that does not match; throws only when the key cannot be used. */
  verify(data: Buffer, mac: Buffer): Promise<boolean>;
  close(): Promise<void>;
}
