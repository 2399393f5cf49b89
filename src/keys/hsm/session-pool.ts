/**
 * A bounded pool of PKCS#11 sessions. PKCS#11 allows one active operation of each kind per
 * session, so each operation borrows a session for its whole length. While every session is busy,
 * requests wait in FIFO order.
 */
export class SessionPool<T> {
  private members = new Set<T>();
  private idle: T[] = [];
  /** Sessions lent out and not yet returned, including those from before the last reset(). */
  private readonly lent = new Set<T>();
  private readonly waiters: Array<{
    resolve: (session: T) => void;
    reject: (error: Error) => void;
  }> = [];
  private returnWaiters: Array<() => void> = [];

  /** Number of sessions in the pool. */
  get size(): number {
    return this.members.size;
  }

  /** Number of sessions lent out at the moment. */
  get busy(): number {
    return this.members.size - this.idle.length;
  }

  /** Number of requests waiting for a session. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Number of sessions lent out and not yet returned, including those from before the last reset(). */
  get lentOut(): number {
    return this.lent.size;
  }

  /**
   * Waits until every lent session has come back, including those from before the last reset(),
   * or until `timeoutMs` has passed. Returns whether all came back.
   */
  whenReturned(timeoutMs: number): Promise<boolean> {
    if (this.lent.size === 0) {
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.returnWaiters = this.returnWaiters.filter((entry) => entry !== waiter);
        resolve(false);
      }, timeoutMs);
      this.returnWaiters.push(waiter);
    });
  }

  /**
   * Replaces every session, for example after the connection to the token was rebuilt. Sessions
   * lent out before the call are dropped when they come back, and waiting requests get new ones.
   */
  reset(sessions: readonly T[]): void {
    this.members = new Set(sessions);
    this.idle = [...sessions];
    this.serveWaiters();
  }

  /** Lends a session, waiting until one is free. */
  acquire(): Promise<T> {
    const session = this.idle.shift();
    if (session !== undefined) {
      this.lent.add(session);
      return Promise.resolve(session);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Fails every waiting request, for example when the token cannot be reached again. */
  rejectWaiting(error: Error): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(error);
    }
  }

  /** Takes a session back. A session from before the last reset() is ignored. */
  release(session: T): void {
    if (this.lent.delete(session) && this.lent.size === 0) {
      for (const waiter of this.returnWaiters.splice(0)) {
        waiter();
      }
    }
    if (!this.members.has(session) || this.idle.includes(session)) {
      return;
    }
    this.idle.push(session);
    this.serveWaiters();
  }

  /** Runs `operation` with a borrowed session and returns the session afterwards, also on error. */
  async use<R>(operation: (session: T) => Promise<R>): Promise<R> {
    const session = await this.acquire();
    try {
      return await operation(session);
    } finally {
      this.release(session);
    }
  }

  /** Returns every session of the pool, idle or lent out, and empties it. */
  drain(): T[] {
    const sessions = [...this.members];
    this.members = new Set();
    this.idle = [];
    return sessions;
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0 && this.idle.length > 0) {
      const waiter = this.waiters.shift();
      const session = this.idle.shift();
      if (waiter !== undefined && session !== undefined) {
        this.lent.add(session);
        waiter.resolve(session);
      }
    }
  }
}
