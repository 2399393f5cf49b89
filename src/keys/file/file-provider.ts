import { StrongroomError } from '../../errors.js';
import { openGcm, sealGcm } from '../../crypto/aes-gcm.js';
import { aesKeyCheckValue } from '../../crypto/key-check-value.js';
import { checkReopened, reopenFailed } from '../reopen-check.js';
import type {
  BatchResult,
  MasterKeyProvider,
  MasterKeyRef,
  ProviderStatus,
  UnwrapRequest,
  WrapManyOptions,
  WrapRequest,
  WrappedKey,
} from '../types.js';
import { fileKeyId, readKeyFile } from './key-file.js';

/**
 * Creates the software master key provider: a 32-byte key in a 0600 file, used for AES-256-GCM in
 * Node's crypto.
 * The key stays in memory while the provider is open and is zeroed by close().
 */
export function createFileProvider(options: { path: string }): MasterKeyProvider {
  let key: Buffer | undefined;
  let keyRef: MasterKeyRef | undefined;

  function requireKey(): Buffer {
    if (key === undefined) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_UNAVAILABLE',
        'The file master key provider is not open.',
      );
    }
    return key;
  }

  function unwrapOne(wrapped: WrappedKey, aad: Buffer): Buffer {
    if (wrapped.mechanism !== 'aes-256-gcm') {
      throw new StrongroomError(
        'SR_DECRYPT_FAILED',
        `A DEK wrapped with ${wrapped.mechanism} cannot be opened by the file provider, which uses aes-256-gcm.`,
      );
    }
    return openGcm(requireKey(), wrapped.wrapped, aad);
  }

  return {
    kind: 'file',

    async open() {
      key = await readKeyFile(options.path);
      keyRef = { provider: 'file', keyId: fileKeyId(key), kcv: aesKeyCheckValue(key) };
    },

    ref() {
      if (keyRef === undefined) {
        throw new StrongroomError(
          'SR_KEY_PROVIDER_UNAVAILABLE',
          'The file master key provider is not open.',
        );
      }
      return keyRef;
    },

    async wrap(dek: Buffer, aad: Buffer): Promise<WrappedKey> {
      return { mechanism: 'aes-256-gcm', wrapped: sealGcm(requireKey(), dek, aad) };
    },

    async unwrap(wrapped: WrappedKey, aad: Buffer): Promise<Buffer> {
      return unwrapOne(wrapped, aad);
    },

    async wrapMany(
      requests: readonly WrapRequest[],
      options: WrapManyOptions = {},
    ): Promise<BatchResult<WrappedKey>[]> {
      const masterKey = requireKey();
      return requests.map(({ dek, aad }) =>
        settle(() => {
          const wrapped = sealGcm(masterKey, dek, aad);
          if (options.reopen === true) {
            checkReopened(dek, reopen(masterKey, wrapped, aad));
          }
          return { mechanism: 'aes-256-gcm', wrapped };
        }),
      );
    },

    async unwrapMany(requests: readonly UnwrapRequest[]): Promise<BatchResult<Buffer>[]> {
      requireKey();
      return requests.map(({ key: wrapped, aad }) => settle(() => unwrapOne(wrapped, aad)));
    },

    status(): ProviderStatus {
      return {
        kind: 'file',
        ready: key !== undefined,
        keyId: keyRef?.keyId ?? '',
        detail: { path: options.path },
      };
    },

    async close() {
      key?.fill(0);
      key = undefined;
    },
  };
}

/** Opens a wrapping that wrapMany has just made, for WrapManyOptions.reopen. */
function reopen(masterKey: Buffer, wrapped: Buffer, aad: Buffer): Buffer {
  try {
    return openGcm(masterKey, wrapped, aad);
  } catch (error) {
    throw reopenFailed(error instanceof Error ? error.message : String(error));
  }
}

/** Runs one item of a batch and captures its error, so one bad item does not fail the batch. */
function settle<T>(operation: () => T): BatchResult<T> {
  try {
    return { ok: true, value: operation() };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
  }
}
