import type { Logger } from 'pino';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import type { MacAlgorithm } from '../mac-key.js';
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
import { checkDekLengths, unwrapManyInWorker, wrapManyInWorker } from './batch-calls.js';
import { BatchProcesses } from './batch-process/batch-processes.js';
import { unwrapManyInProcesses, wrapManyInProcesses } from './batch-process/process-batch.js';
import { hsmLogFromPino } from './hsm-log.js';
import { isLibraryInUse, registerLibraryUse, type LibraryUse } from './library-users.js';
import { isWrapMechanism } from './mechanisms.js';
import { asBuffer, transferableCopy, type OpenedToken } from './protocol.js';
import {
  checkProviderOptions,
  DEFAULT_POOL_SIZE,
  logKeyWrapMode,
  type HsmProviderOptions,
} from './provider-options.js';
import { WorkerClient } from './worker-client.js';
import { requireWorkerFile } from './worker-path.js';

const DEK_BYTES = 32;

export type { HsmProviderOptions } from './provider-options.js';

/**
 * The master key provider for a key in an HSM, reached over PKCS#11 from a worker thread. open()
 * logs in and checks the key, and wrap() and unwrap() run in pooled sessions on the token.
 */
export class HsmProvider implements MasterKeyProvider {
  readonly kind = 'hsm' as const;
  private readonly log: Logger;
  private readonly poolSize: number;
  private client: WorkerClient | undefined;
  private processes: BatchProcesses | undefined;
  private opened: OpenedToken | undefined;
  private opening: Promise<void> | undefined;
  private libraryUse: LibraryUse | undefined;
  private rejectedPin: StrongroomError | undefined;
  private closed = false;

  constructor(private readonly options: HsmProviderOptions) {
    this.log = options.logger.child({ component: 'hsm' });
    this.poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
  }

  open(): Promise<void> {
    if (this.opened !== undefined) {
      return Promise.resolve();
    }
    this.opening ??= this.start().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  ref(): MasterKeyRef {
    const opened = this.requireOpened();
    return { provider: 'hsm', keyId: this.options.keyLabel, kcv: opened.kcv };
  }

  async wrap(dek: Buffer, aad: Buffer): Promise<WrappedKey> {
    if (dek.length !== DEK_BYTES) {
      throw new RangeError(`dek must be ${DEK_BYTES} bytes, got ${dek.length}`);
    }

    // The worker receives copies that it zeroes after use. The caller keeps and zeroes `dek`.
    const transfer: ArrayBuffer[] = [];
    const params = { dek: transferableCopy(dek, transfer), aad: transferableCopy(aad, transfer) };
    const result = await this.requireClient().call('wrap', params, transfer);
    return { mechanism: result.mechanism, wrapped: asBuffer(result.wrapped) };
  }

  async unwrap(key: WrappedKey, aad: Buffer): Promise<Buffer> {
    const client = this.requireClient();
    if (!isWrapMechanism(key.mechanism)) {
      this.log.warn(
        { mechanism: String(key.mechanism) },
        'a wrapped DEK names an unknown mechanism',
      );
      throw new StrongroomError(
        'SR_DECRYPT_FAILED',
        'the wrapped DEK names a mechanism that Strongroom does not know.',
      );
    }

    const transfer: ArrayBuffer[] = [];
    const params = {
      mechanism: key.mechanism,
      wrapped: transferableCopy(key.wrapped, transfer),
      aad: transferableCopy(aad, transfer),
    };
    const result = await client.call('unwrap', params, transfer);
    return asBuffer(result.dek);
  }

  /**
   * Computes a MAC over `data` with the secret key labelled `keyLabel` on this provider's token,
   * in a pooled session: the audit checkpoint key, never the master key.
   */
  async signWithKey(
    keyLabel: string,
    data: Buffer,
  ): Promise<{ algorithm: MacAlgorithm; mac: Buffer }> {
    const transfer: ArrayBuffer[] = [];
    const params = { keyLabel, data: transferableCopy(data, transfer) };
    const result = await this.requireClient().call('sign', params, transfer);
    return { algorithm: result.algorithm, mac: asBuffer(result.mac) };
  }

  /** Checks a MAC that signWithKey made with the key labelled `keyLabel`. */
  async verifyWithKey(
    keyLabel: string,
    data: Buffer,
    mac: Buffer,
  ): Promise<{ algorithm: MacAlgorithm; valid: boolean }> {
    const transfer: ArrayBuffer[] = [];
    const params = {
      keyLabel,
      data: transferableCopy(data, transfer),
      mac: transferableCopy(mac, transfer),
    };
    return this.requireClient().call('verify', params, transfer);
  }

  /**
   * Wraps the DEKs spread over the batch processes when there are any, and otherwise in one worker
   * message per 1,000, spread over the pool's sessions.
   */
  async wrapMany(
    requests: readonly WrapRequest[],
    options: WrapManyOptions = {},
  ): Promise<BatchResult<WrappedKey>[]> {
    const client = this.requireClient();
    if (this.processes === undefined) {
      return wrapManyInWorker(client, requests, options);
    }
    checkDekLengths(requests);
    return wrapManyInProcesses(this.processes, requests, this.requireOpened().mechanism, options);
  }

  /** Unwraps the DEKs like wrapMany spreads them. */
  unwrapMany(requests: readonly UnwrapRequest[]): Promise<BatchResult<Buffer>[]> {
    const client = this.requireClient();
    if (this.processes === undefined) {
      return unwrapManyInWorker(client, requests);
    }
    return unwrapManyInProcesses(this.processes, requests, hsmLogFromPino(this.log));
  }

  status(): ProviderStatus {
    const opened = this.opened;
    const detail: ProviderStatus['detail'] = {
      keyLabel: this.options.keyLabel,
      library: this.options.library,
      poolSize: this.poolSize,
    };
    if (opened !== undefined) {
      Object.assign(detail, {
        slotId: opened.slotId,
        slotIndex: opened.slotIndex,
        slotDescription: opened.slotDescription,
        tokenLabel: opened.tokenLabel,
        mechanism: opened.mechanism,
        keyWrap: opened.keyWrap,
        kcv: opened.kcv,
        connected: this.client?.connected ?? false,
      });
    }
    return {
      kind: 'hsm',
      ready: opened !== undefined && !this.closed && this.client?.connected === true,
      keyId: this.options.keyLabel,
      detail,
    };
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    await this.opening?.catch(() => undefined);

    const processes = this.processes;
    this.processes = undefined;
    await processes?.close();
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }

    const last = this.libraryUse?.release() ?? { logout: true, finalize: true };
    try {
      await client.call('close', last);
    } catch (error) {
      this.log.warn(
        { code: isStrongroomError(error) ? error.code : 'unknown', reason: String(error) },
        'closing the hsm session pool failed',
      );
    } finally {
      await client.terminate();
    }
    this.log.info({ keyLabel: this.options.keyLabel }, 'hsm master key provider closed');
  }

  private async start(): Promise<void> {
    if (this.closed) {
      throw new StrongroomError(
        'SR_HSM_UNAVAILABLE',
        'the HSM master key provider is closed. Create a new one to use the HSM again.',
      );
    }
    if (this.rejectedPin !== undefined) {
      // The token rejected this PIN before, and trying it again could lock the PIN.
      throw this.rejectedPin;
    }
    checkProviderOptions(this.options, this.poolSize, hsmLogFromPino(this.log));

    const client = new WorkerClient(requireWorkerFile(), this.log);
    try {
      const { library, slot, keyLabel, pin } = this.options;
      const finalizeOnFailure = !isLibraryInUse(library);
      const opened = await client.call('open', {
        library,
        slot,
        keyLabel,
        pin,
        poolSize: this.poolSize,
        keyWrap: this.options.keyWrap ?? 'token',
        finalizeOnFailure,
        finalizeOnReconnect: this.options.finalizeOnReconnect ?? true,
      });
      this.client = client;
      this.opened = opened;
      this.libraryUse = registerLibraryUse(library, opened.slotId);
      this.log.info(
        {
          keyLabel,
          slotId: opened.slotId,
          tokenLabel: opened.tokenLabel,
          mechanism: opened.mechanism,
          kcv: opened.kcv,
          poolSize: this.poolSize,
        },
        'hsm master key opened',
      );
      logKeyWrapMode(this.log, this.options.keyWrap ?? 'token', opened);
      await this.startProcesses(opened);
    } catch (error) {
      if (
        isStrongroomError(error, 'SR_HSM_PIN_INCORRECT') ||
        isStrongroomError(error, 'SR_HSM_PIN_LOCKED')
      ) {
        this.rejectedPin = error;
      }
      await client.terminate();
      throw error;
    }
  }

  /**
   * Starts the batch processes when options.batchProcesses is above 0. A failure closes the
   * provider's connection and names the setting that turns them off.
   */
  private async startProcesses(opened: OpenedToken): Promise<void> {
    const count = this.options.batchProcesses ?? 0;
    if (count === 0) {
      return;
    }
    const { library, slot, keyLabel, pin } = this.options;
    const processes = new BatchProcesses(
      { library, slot, keyLabel, pin, keyWrap: this.options.keyWrap ?? 'token', kcv: opened.kcv },
      count,
      hsmLogFromPino(this.log),
    );
    try {
      await processes.start();
    } catch (error) {
      // start() terminates the worker after this, so the connection is closed here first.
      const last = this.libraryUse?.release() ?? { logout: true, finalize: true };
      await this.client?.call('close', last).catch(() => undefined);
      this.libraryUse = undefined;
      this.client = undefined;
      this.opened = undefined;
      const reason = error instanceof Error ? error.message : String(error);
      throw new StrongroomError(
        isStrongroomError(error) ? error.code : 'SR_HSM_UNAVAILABLE',
        `the HSM batch processes could not start: ${reason} To run batches in threads instead, set strongroom.hsm.batchProcesses = 0.`,
        { cause: error },
      );
    }
    this.processes = processes;
    this.log.info({ batchProcesses: count }, 'hsm batch processes started');
  }

  private requireOpened(): OpenedToken {
    if (this.opened === undefined || this.closed) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_UNAVAILABLE',
        'the HSM master key provider is not open. Call open() first.',
      );
    }
    return this.opened;
  }

  private requireClient(): WorkerClient {
    this.requireOpened();
    if (this.client === undefined) {
      throw new StrongroomError(
        'SR_KEY_PROVIDER_UNAVAILABLE',
        'the HSM master key provider is not open. Call open() first.',
      );
    }
    return this.client;
  }
}
