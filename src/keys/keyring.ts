import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { isStrongroomError, StrongroomError } from '../errors.js';
import { sameKey } from './key-ref.js';
import { canaryAssociatedData, dekAssociatedData } from '../crypto/associated-data.js';
import { AES_256_KEY_BYTES } from '../crypto/aes-gcm.js';
import type { DekRecord, KeyRepository } from '../store/repositories.js';
import { DekCache } from './dek-cache.js';
import { FoundKeys, type KeyFinder } from './found-keys.js';
import type { MasterKeyProvider, MasterKeyRef, ProviderKind, ProviderStatus } from './types.js';

/** The known value every canary wraps; 32 bytes, so it is wrapped like a DEK. */
const CANARY_PLAINTEXT = Buffer.from('strongroom canary, master key v1', 'ascii');

export interface KeyringOptions {
  active: MasterKeyProvider;
  /** The other configured provider, used to open DEKs that its key still wraps. */
  secondary: MasterKeyProvider | undefined;
  keys: KeyRepository;
  cache: DekCache;
  logger: Logger;
  /**
   * Finds keys that neither provider holds, such as the new key of a renewal that runs while the
   * service serves. Each found key must open its canary before it is used.
   */
  findKey?: KeyFinder;
}

/**
 * The open master keys and the DEKs under them. New DEKs are wrapped by the active provider. An
 * existing DEK is opened by the provider that its row names, so a migration can run while the
 * service serves.
 */
export class Keyring {
  private readonly providers: Map<ProviderKind, MasterKeyProvider>;
  private readonly found: FoundKeys;

  constructor(private readonly options: KeyringOptions) {
    this.providers = new Map([[options.active.kind, options.active]]);
    if (options.secondary !== undefined) {
      this.providers.set(options.secondary.kind, options.secondary);
    }
    this.found = new FoundKeys(
      options.findKey,
      (provider) => this.checkCanary(provider),
      options.logger,
    );
  }

  get activeKind(): ProviderKind {
    return this.options.active.kind;
  }

  /** Returns the open provider of a kind, which also holds the audit checkpoint key. */
  providerOf(kind: ProviderKind): MasterKeyProvider | undefined {
    return this.providers.get(kind);
  }

  activeRef(): MasterKeyRef {
    return this.options.active.ref();
  }

  /** Makes a new random DEK and its row, wrapped under the active master key. */
  async newDek(): Promise<{ record: DekRecord; dek: Buffer }> {
    const id = randomUUID();
    const dek = randomBytes(AES_256_KEY_BYTES);
    const wrapped = await this.options.active.wrap(dek, dekAssociatedData(id));
    return { record: { id, ref: this.activeRef(), ...wrapped }, dek };
  }

  /** Opens a DEK by id: from the cache, or by unwrapping its row with the provider it names. */
  async openDek(record: DekRecord): Promise<Buffer> {
    const cached = this.options.cache.get(record.id);
    if (cached !== undefined) {
      return cached;
    }

    const provider = this.heldProvider(record.ref) ?? (await this.found.open(record.ref));
    const dek = await provider.unwrap(record, dekAssociatedData(record.id));
    this.options.cache.set(record.id, dek);
    return dek;
  }

  /** Writes the canary of each open key that has none, then proves each key opens its canary. */
  async verifyCanaries(): Promise<void> {
    for (const provider of this.providers.values()) {
      await this.ensureCanary(provider);
    }
  }

  /** Unwraps the active key's canary: the live proof behind /health. */
  async probeActive(): Promise<void> {
    await this.checkCanary(this.options.active);
  }

  /**
   * Opens the key `ref` names with the finder when no open provider has it, and returns whether
   * the key is now open. At start-up this opens the key of a renewal that was under way.
   */
  async openKeyOf(ref: MasterKeyRef): Promise<boolean> {
    if (this.heldProvider(ref) !== undefined) {
      return true;
    }
    return this.found.open(ref).then(
      () => true,
      () => false,
    );
  }

  statuses(): ProviderStatus[] {
    return [...this.providers.values(), ...this.found.providers()].map((provider) =>
      provider.status(),
    );
  }

  cacheStats(): { hits: number; misses: number; size: number } {
    const { hits, misses, size } = this.options.cache;
    return { hits, misses, size };
  }

  async close(): Promise<void> {
    this.options.cache.clear();
    for (const provider of [...this.providers.values(), ...this.found.providers()]) {
      await provider.close().catch((error: unknown) => {
        this.options.logger.warn(
          { err: error, provider: provider.kind },
          'master key provider did not close cleanly',
        );
      });
    }
  }

  /**
   * Returns the open provider that has the key `ref` names, if any. An HSM provider that lost its
   * connection still has its key: its call reconnects, or fails with SR_HSM_UNAVAILABLE, which
   * tells the caller to try again later rather than that the key is missing.
   */
  private heldProvider(ref: MasterKeyRef): MasterKeyProvider | undefined {
    const provider = this.providers.get(ref.provider);
    const held = provider === undefined ? undefined : heldKeyOf(provider);
    if (provider !== undefined && held !== undefined && sameKey(held, ref)) {
      return provider;
    }
    return this.found.get(ref);
  }

  private async ensureCanary(provider: MasterKeyProvider): Promise<void> {
    const ref = provider.ref();
    const existing = await this.options.keys.findCanary(ref);
    if (existing === undefined) {
      const wrapped = await provider.wrap(
        CANARY_PLAINTEXT,
        canaryAssociatedData(ref.provider, ref.keyId),
      );
      await this.options.keys.insertCanary({
        ref,
        mechanism: wrapped.mechanism,
        canary: wrapped.wrapped,
        createdAt: new Date().toISOString(),
      });
      this.options.logger.info(
        { provider: ref.provider, keyId: ref.keyId, kcv: ref.kcv },
        'canary written for new master key',
      );
      return;
    }
    await this.checkCanary(provider);
  }

  private async checkCanary(provider: MasterKeyProvider): Promise<void> {
    const ref = provider.ref();
    const canary = await this.options.keys.findCanary(ref);
    const mismatch = new StrongroomError(
      'SR_KEY_CANARY_MISMATCH',
      `${describeKey(ref)} does not open its canary, so it is not the key that wrote it. Restore the original key, or check that the key label names the right key.`,
      { details: { provider: ref.provider, keyId: ref.keyId } },
    );
    if (canary === undefined || canary.ref.kcv !== ref.kcv) {
      throw mismatch;
    }

    let opened: Buffer | undefined;
    try {
      opened = await provider.unwrap(
        { mechanism: canary.mechanism, wrapped: canary.canary },
        canaryAssociatedData(ref.provider, ref.keyId),
      );
      if (opened.length !== CANARY_PLAINTEXT.length || !timingSafeEqual(opened, CANARY_PLAINTEXT)) {
        throw mismatch;
      }
    } catch (error) {
      if (error instanceof StrongroomError && error.code === 'SR_DECRYPT_FAILED') {
        throw mismatch;
      }
      throw error;
    } finally {
      opened?.fill(0);
    }
  }
}

/** Names a master key for a message: "HSM key 'pam-master-key' (check value 1a2b3c)". */
export function describeKey(ref: MasterKeyRef): string {
  const kind = ref.provider === 'hsm' ? 'HSM key' : 'file key';
  return `${kind} '${ref.keyId}' (check value ${ref.kcv})`;
}

/** Returns the key that an open provider holds, or undefined when the provider is not open. */
function heldKeyOf(provider: MasterKeyProvider): MasterKeyRef | undefined {
  try {
    return provider.ref();
  } catch (error) {
    if (isStrongroomError(error, 'SR_KEY_PROVIDER_UNAVAILABLE')) {
      return undefined;
    }
    throw error;
  }
}
