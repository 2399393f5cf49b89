import { setTimeout as sleep } from 'node:timers/promises';

/** The outcome of one reveal request of the load. */
export interface RevealResult {
  /** Date.now() when the request was sent. */
  startedAt: number;
  /** Date.now() when the response arrived. */
  at: number;
  accountId: string;
  /** HTTP status, or 0 when the request failed without a response (refused or reset). */
  status: number;
  /** The SR_* code of an error response, or the fetch error's message for status 0. */
  code: string | undefined;
  /** For status 200: whether the revealed secret is the one the account was created with. */
  correct: boolean | undefined;
}

/** Accounts to reveal and their original secrets. */
export interface LoadAccounts {
  /** Revealed in turn by the clients with an even index, so their DEKs stay in a small DEK cache. */
  hot: ReadonlyMap<string, string>;
  /** Revealed in turn by the clients with an odd index, so that most of them miss the cache. */
  cold: ReadonlyMap<string, string>;
  /** Revealed only when a test calls reveal(). */
  probes: ReadonlyMap<string, string>;
}

/** Pause between two requests of one client (milliseconds), so that the load leaves CPU to the service. */
const PAUSE_MS = 10;

/**
 * Runs `clients` concurrent loops that reveal secrets over HTTP as one operator, until stop() is
 * called, and records every outcome.
 */
export class RevealLoad {
  readonly results: RevealResult[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly accounts: LoadAccounts,
  ) {}

  start(clients: number): void {
    this.running = true;
    const hot = [...this.accounts.hot.keys()];
    const cold = [...this.accounts.cold.keys()];
    this.loops = Array.from({ length: clients }, (_, client) =>
      this.runClient(client, clients, hot, cold),
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Returns the results that arrived at or after `from` and before `to` (Date.now() values). */
  between(from: number, to = Number.POSITIVE_INFINITY): RevealResult[] {
    return this.results.filter((result) => result.at >= from && result.at < to);
  }

  /** Reveals one account once and records the outcome like a request of the load. */
  async reveal(accountId: string): Promise<RevealResult> {
    const { hot, cold, probes } = this.accounts;
    const expected = hot.get(accountId) ?? cold.get(accountId) ?? probes.get(accountId);
    const startedAt = Date.now();
    let result: RevealResult;
    try {
      const response = await fetch(`${this.baseUrl}/api/v1/accounts/${accountId}/reveal`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'outage test load' }),
      });
      const body = (await response.json()) as { secret?: string; error?: { code?: string } };
      result = {
        startedAt,
        at: Date.now(),
        accountId,
        status: response.status,
        code: body.error?.code,
        correct: response.status === 200 ? body.secret === expected : undefined,
      };
    } catch (error) {
      result = {
        startedAt,
        at: Date.now(),
        accountId,
        status: 0,
        code: error instanceof Error ? error.message : String(error),
        correct: undefined,
      };
    }
    this.results.push(result);
    return result;
  }

  /**
   * Reveals hot accounts (even `client`) or cold ones (odd `client`) in turn. Clients of one kind
   * start at different accounts, so that together they visit every account of their kind.
   */
  private async runClient(
    client: number,
    clients: number,
    hot: string[],
    cold: string[],
  ): Promise<void> {
    const accounts = client % 2 === 0 ? hot : cold;
    const peers = Math.ceil(clients / 2);
    for (let request = 0; this.running; request++) {
      const accountId = accounts[(request * peers + Math.floor(client / 2)) % accounts.length];
      if (accountId !== undefined) {
        await this.reveal(accountId);
      }
      await sleep(PAUSE_MS);
    }
  }
}
