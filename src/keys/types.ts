/** The two places a master key can live. */
export type ProviderKind = 'file' | 'hsm';

/**
 * The master key that wraps a DEK, as stored in each DEK row and each canary row. Nothing is ever
 * decrypted by guessing: a row is opened only by the provider whose reference matches it.
 */
export interface MasterKeyRef {
  provider: ProviderKind;
  /** The file key id (the hex SHA-256 of a fixed label under the key, truncated) or the HSM key label. */
  keyId: string;
  /** Key check value: the first 3 bytes of AES-ECB over a zero block, in hex, as in CKA_CHECK_VALUE. */
  kcv: string;
}

/** The mechanism that wraps a DEK under the master key. */
export type WrapMechanism = 'aes-256-gcm' | 'aes-key-wrap-pad' | 'aes-key-wrap';

/** A DEK wrapped under a master key, with what is needed to open it again. */
export interface WrappedKey {
  mechanism: WrapMechanism;
  /**
   * For GCM: 12-byte IV, ciphertext and 16-byte tag. For key wrap: the RFC 3394 or RFC 5649 output
   * followed by a 32-byte HMAC-SHA256 keyed with the DEK over the associated data.
   */
  wrapped: Buffer;
}

/** The state of a provider for /health and the doctor. Never contains key material. */
export interface ProviderStatus {
  kind: ProviderKind;
  ready: boolean;
  keyId: string;
  detail: Record<string, string | number | boolean>;
}

/** One DEK to wrap in a batch, with the associated data that binds it to its row. */
export interface WrapRequest {
  dek: Buffer;
  aad: Buffer;
}

/** Options of wrapMany. */
export interface WrapManyOptions {
  /**
   * Opens each new wrapping again under the same key, in the same call, and returns it only when it
   * opens to its DEK. Any other outcome fails the item with SR_DEK_MIGRATION_VERIFY_FAILED. The DEK
   * migration uses it, so that it never writes a wrapping that its target cannot open.
   */
  reopen?: boolean;
}

/** One wrapped DEK to open in a batch, with the associated data that binds it to its row. */
export interface UnwrapRequest {
  key: WrappedKey;
  aad: Buffer;
}

/** The outcome of one item of a batch: its value, or the error that this item alone raised. */
export type BatchResult<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * A master key provider: it wraps and unwraps 32-byte DEKs and never hands out the master key.
 * `aad` is the associated data that binds a wrapped DEK to its row (the DEK id). Key wrap has no
 * associated data, so there the provider appends an HMAC under the DEK that binds it instead.
 */
export interface MasterKeyProvider {
  readonly kind: ProviderKind;
  /** Loads the key and checks it; throws a StrongroomError naming the fault. */
  open(): Promise<void>;
  /** The reference of the open key. Throws if open() has not succeeded. */
  ref(): MasterKeyRef;
  wrap(dek: Buffer, aad: Buffer): Promise<WrappedKey>;
  unwrap(key: WrappedKey, aad: Buffer): Promise<Buffer>;
  /**
   * Wraps several DEKs in one call and returns one result per request, in request order. An item
   * that fails does not fail the others. Throws only for an invalid call, such as a DEK that is
   * not 32 bytes long.
   */
  wrapMany(
    requests: readonly WrapRequest[],
    options?: WrapManyOptions,
  ): Promise<BatchResult<WrappedKey>[]>;
  /**
   * Unwraps several DEKs in one call and returns one result per request, in request order. The
   * caller zeroes the DEKs it receives, as with unwrap().
   */
  unwrapMany(requests: readonly UnwrapRequest[]): Promise<BatchResult<Buffer>[]>;
  status(): ProviderStatus;
  close(): Promise<void>;
}
