import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
import { PinGuard } from './login.js';
import { describeFailure, isConnectionLost } from './pkcs11-failures.js';
import { finalizeModule, loadModule } from './pkcs11-module.js';
import { reconnectWithBackoff } from './reconnect.js';
import { SessionPool } from './session-pool.js';
import {
  closeSessions,
  establishConnection,
  logoutQuietly,
  type ConnectionSettings,
  type EstablishedConnection,
} from './token-setup.js';

/**
 * Maximum time in ms that a reconnection waits for the sessions that operations still use. Closing
 * a session or finalising the module while another thread calls into it is undefined behaviour in
 * PKCS#11, and SoftHSM 2.6 frees the session's memory. Batch threads stop between items once the
 * connection is dropped, so the wait is about one PKCS#11 call.
 *
 * NOTE: a guessed bound for a hung call, not measured on a network HSM. After it, the reset goes
 * on with the sessions still in use.
 */
const SESSION_RETURN_WAIT_MS = 10_000;

/** An operation that runs in one pooled session of the current connection. */
export type OperationBody<R> = (
  pkcs11: PKCS11,
  session: Buffer,
  connection: EstablishedConnection,
) => Promise<R>;

/**
 * The worker's connection to one token: a pool of sessions that share one login, and the master
 * key. After an error that means the sessions are gone (CKR_DEVICE_REMOVED and the like, see
 * isConnectionLost) it reconnects with backoff and retries the operation once, so an HSM restart
 * or a dropped network path needs no Strongroom restart.
 */
export class TokenConnection {
  private readonly pool = new SessionPool<Buffer>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private pkcs11: PKCS11 | undefined;
  private current: EstablishedConnection | undefined;
  private openedKcv: string | undefined;
  private readonly login: PinGuard;
  private reconnecting: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly log: HsmLog,
    private readonly onConnectionChange: (connected: boolean) => void = () => undefined,
  ) {
    this.login = new PinGuard(settings.pin, log);
  }

  /** Number of sessions in the pool, and so the number of operations that can run at once. */
  get poolSize(): number {
    return this.settings.poolSize;
  }

  /**
   * Loads the module and establishes the first connection. Fails at once, without retries. After
   * a failure the module is finalised if `finalizeOnFailure`, that is if nothing else in the
   * process uses it.
   */
  open(finalizeOnFailure: boolean): EstablishedConnection {
    const pkcs11 = loadModule(this.settings.library);
    this.pkcs11 = pkcs11;
    try {
      const connection = this.establish();
      this.openedKcv = connection.keyCheckValue.kcv;
      return connection;
    } catch (error) {
      if (finalizeOnFailure) {
        finalizeModule(pkcs11, this.settings.library, this.log);
        pkcs11.close();
      }
      throw error;
    }
  }

  /**
   * Runs an operation with a pooled session and the current connection. If the connection is lost
   * during the operation, it reconnects and runs the operation once more.
   */
  run<R>(operation: string, body: OperationBody<R>): Promise<R> {
    const running = this.runWithRetry(operation, body);
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running)).catch(() => undefined);
    return running;
  }

  /**
   * Waits for running operations, logs out if `logout` (never while sessions are in use), closes
   * the sessions and, if `finalize`, finalises and unloads the module.
   */
  async close(options: { logout: boolean; finalize: boolean }): Promise<void> {
    this.closed = true;
    this.pool.rejectWaiting(
      new StrongroomError('SR_HSM_UNAVAILABLE', 'the HSM master key provider is closed.'),
    );
    await Promise.allSettled([...this.inFlight, this.reconnecting]);

    const pkcs11 = this.pkcs11;
    const sessions = this.pool.drain();
    this.current = undefined;
    if (pkcs11 === undefined) {
      return;
    }

    const [first] = sessions;
    if (options.logout && first !== undefined) {
      logoutQuietly(pkcs11, first, this.log);
    }
    closeSessions(pkcs11, sessions, this.log);

    if (options.finalize) {
      finalizeModule(pkcs11, this.settings.library, this.log);
      pkcs11.close();
    }
  }

  private async runWithRetry<R>(operation: string, body: OperationBody<R>): Promise<R> {
    let retried = false;
    for (;;) {
      await this.ensureConnected();
      const session = await this.pool.acquire();
      const connection = this.current;
      const pkcs11 = this.pkcs11;
      if (connection === undefined || pkcs11 === undefined) {
        // The connection was lost while this request waited for a session.
        this.pool.release(session);
        continue;
      }

      try {
        return await body(pkcs11, session, connection);
      } catch (error) {
        if (!isConnectionLost(error)) {
          throw error;
        }
        // The next request reconnects even when this one gives up.
        this.markLost(connection);
        if (retried || this.closed) {
          throw error;
        }
        retried = true;
        this.log.warn('lost the connection to the token, reconnecting', {
          operation,
          ckr: describeFailure(error),
        });
      } finally {
        this.pool.release(session);
      }
    }
  }

  private async ensureConnected(): Promise<void> {
    if (this.closed) {
      throw new StrongroomError('SR_HSM_UNAVAILABLE', 'the HSM master key provider is closed.');
    }
    if (this.current === undefined) {
      await this.reconnect();
    }
  }

  /** Drops a connection that failed, unless a newer one has replaced it already. */
  private markLost(connection: EstablishedConnection): void {
    if (this.current !== connection) {
      return;
    }
    this.current = undefined;
    Atomics.store(connection.abandoned, 0, 1);
    this.onConnectionChange(false);
  }

  private async waitForLentSessions(): Promise<void> {
    if (await this.pool.whenReturned(SESSION_RETURN_WAIT_MS)) {
      return;
    }
    this.log.warn('sessions are still in use after waiting, resetting the connection anyway', {
      sessionsInUse: this.pool.lentOut,
      waitedMs: SESSION_RETURN_WAIT_MS,
    });
  }

  private reconnect(): Promise<void> {
    const pkcs11 = this.requireModule();
    const steps = {
      reset: async (attempt: number) => {
        await this.waitForLentSessions();
        closeSessions(pkcs11, this.pool.drain(), this.log);
        if (attempt > 1 && this.settings.finalizeOnReconnect !== false) {
          // A module whose connection broke (p11-kit's RPC client, network HSMs) only reconnects
          // in C_Initialize, so later attempts start from a finalised module.
          finalizeModule(pkcs11, this.settings.library, this.log);
        }
      },
      establish: () => this.establish(),
      isClosed: () => this.closed,
    };

    this.reconnecting ??= reconnectWithBackoff(steps, this.log)
      .catch((error: unknown) => {
        this.pool.rejectWaiting(error instanceof Error ? error : new Error(String(error)));
        throw error;
      })
      .finally(() => {
        this.reconnecting = undefined;
      });
    return this.reconnecting;
  }

  private establish(): EstablishedConnection {
    const pkcs11 = this.requireModule();
    const connection = establishConnection(
      pkcs11,
      this.settings,
      (session, token) => this.login.login(pkcs11, session, token),
      this.log,
    );

    if (this.openedKcv !== undefined && connection.keyCheckValue.kcv !== this.openedKcv) {
      closeSessions(pkcs11, connection.sessions, this.log);
      throw new StrongroomError(
        'SR_KEY_PROVIDER_MISMATCH',
        `after reconnecting, the key labelled '${this.settings.keyLabel}' has check value ${connection.keyCheckValue.kcv}, ` +
          `but the open provider uses ${this.openedKcv}: the key on the token was replaced. Restart Strongroom, so that ` +
          `the start-up check compares the key with the stored DEKs.`,
      );
    }

    this.current = connection;
    this.pool.reset(connection.sessions);
    this.onConnectionChange(true);
    return connection;
  }

  private requireModule(): PKCS11 {
    if (this.pkcs11 === undefined) {
      throw new StrongroomError(
        'SR_HSM_UNAVAILABLE',
        'the PKCS#11 module is not loaded. Open the provider first.',
      );
    }
    return this.pkcs11;
  }
}
