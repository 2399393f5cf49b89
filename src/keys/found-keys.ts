import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import type { MasterKeyProvider, MasterKeyRef } from './types.js';

/**
 * A function that opens the master key a DEK row names when no open provider has it, or
 * returns undefined when it cannot find the key.
 */
export type KeyFinder = (ref: MasterKeyRef) => Promise<MasterKeyProvider | undefined>;

/** Milliseconds before a key that could not be found is looked for again. */
const FIND_RETRY_MS = 10_000;

/**
 * The master keys that a keyring opened because DEK rows named them, such as the new key of a
 * renewal that runs while the service serves. Each key must open its canary before it is kept.
 */
export class FoundKeys {
  readonly #opened = new Map<string, MasterKeyProvider>();
  readonly #lookups = new Map<string, Promise<MasterKeyProvider>>();
  /** When each key that could not be found was last looked for, in epoch milliseconds. */
  readonly #missedAt = new Map<string, number>();

  constructor(
    private readonly findKey: KeyFinder | undefined,
    private readonly checkCanary: (provider: MasterKeyProvider) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Returns the provider of a key opened before, if any. */
  get(ref: MasterKeyRef): MasterKeyProvider | undefined {
    return this.#opened.get(keyName(ref));
  }

  providers(): MasterKeyProvider[] {
    return [...this.#opened.values()];
  }

  /**
   * Opens the key `ref` names with the finder and proves it with its canary. Concurrent calls
   * share one lookup, and a key that was not found is looked for again after FIND_RETRY_MS.
   * Throws SR_KEY_PROVIDER_UNAVAILABLE when the key cannot be opened.
   */
  open(ref: MasterKeyRef): Promise<MasterKeyProvider> {
    const name = keyName(ref);
    const opened = this.#opened.get(name);
    if (opened !== undefined) {
      return Promise.resolve(opened);
    }
    const missed = this.#missedAt.get(name);
    if (
      this.findKey === undefined ||
      (missed !== undefined && Date.now() - missed < FIND_RETRY_MS)
    ) {
      return Promise.reject(unavailable(ref));
    }

    let lookup = this.#lookups.get(name);
    if (lookup === undefined) {
      lookup = this.#lookUp(this.findKey, ref).finally(() => this.#lookups.delete(name));
      this.#lookups.set(name, lookup);
    }
    return lookup;
  }

  async #lookUp(findKey: KeyFinder, ref: MasterKeyRef): Promise<MasterKeyProvider> {
    const name = keyName(ref);
    const fields = { provider: ref.provider, keyId: ref.keyId, kcv: ref.kcv };
    let provider: MasterKeyProvider | undefined;
    try {
      provider = await findKey(ref);
      if (provider !== undefined) {
        await this.checkCanary(provider);
      }
    } catch (error) {
      await provider?.close().catch(() => undefined);
      this.#missedAt.set(name, Date.now());
      this.logger.error({ ...fields, err: error }, 'master key named by a DEK failed to open');
      throw unavailable(ref);
    }
    if (provider === undefined) {
      this.#missedAt.set(name, Date.now());
      this.logger.warn(fields, 'master key named by a DEK was not found');
      throw unavailable(ref);
    }

    this.#opened.set(name, provider);
    this.#missedAt.delete(name);
    this.logger.info(fields, 'opened the master key named by a DEK');
    return provider;
  }
}

/** Returns a map key for a master key: provider, key id and check value. */
function keyName(ref: MasterKeyRef): string {
  return `${ref.provider}:${ref.keyId}:${ref.kcv}`;
}

function unavailable(ref: MasterKeyRef): StrongroomError {
  const kind = ref.provider === 'hsm' ? 'HSM key' : 'file key';
  return new StrongroomError(
    'SR_KEY_PROVIDER_UNAVAILABLE',
    `A DEK is wrapped by ${kind} '${ref.keyId}' (check value ${ref.kcv}), which no open provider holds. Put the key file beside the configured one, or the key on the token, or run 'strongroom dek status' to see which keys the DEKs need.`,
    { details: { provider: ref.provider, keyId: ref.keyId, kcv: ref.kcv } },
  );
}
