import type { AccessRequestRecord, CheckoutRecord } from '../store/repositories.js';
import type { AccessDependencies } from './types.js';

/** The actor name of events that the service records on its own, such as expiries. */
export const SYSTEM_ACTOR = 'system';

/** How many expiries one sweep recorded. */
export interface SweepResult {
  grantsExpired: number;
  checkoutsExpired: number;
}

/**
 * Records the end of grants and checkouts whose time has passed. A grant expires by its time alone;
 * the sweep only writes its `access.expired` event. An expired checkout is removed and its account
 * marked for rotation. Each row is claimed with a conditional statement first, so that several
 * service nodes sweeping at once record each expiry once.
 */
export class CheckoutSweeper {
  readonly #deps: AccessDependencies;

  constructor(deps: AccessDependencies) {
    this.#deps = deps;
  }

  async sweep(): Promise<SweepResult> {
    const now = this.#deps.now().toISOString();
    let grantsExpired = 0;
    let checkoutsExpired = 0;

    for (const checkout of await this.#deps.access.listExpiredCheckouts(now)) {
      if (await this.#endExpiredCheckout(checkout)) {
        checkoutsExpired += 1;
      }
    }
    for (const request of await this.#deps.access.listUnrecordedExpiries(now)) {
      if (await this.#recordGrantExpiry(request, now)) {
        grantsExpired += 1;
      }
    }
    return { grantsExpired, checkoutsExpired };
  }

  /** Ends the checkout of the account if it has expired, and returns the checkout still in force. */
  async currentCheckout(accountId: string): Promise<CheckoutRecord | undefined> {
    const checkout = await this.#deps.access.findCheckout(accountId);
    if (checkout === undefined) {
      return undefined;
    }
    if (Date.parse(checkout.expiresAt) > this.#deps.now().getTime()) {
      return checkout;
    }

    await this.#endExpiredCheckout(checkout);
    return undefined;
  }

  async #endExpiredCheckout(checkout: CheckoutRecord): Promise<boolean> {
    if (!(await this.#deps.access.endCheckout(checkout))) {
      return false;
    }

    try {
      await this.#deps.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'account.checkout.expired',
        objectType: 'account',
        objectId: checkout.accountId,
        outcome: 'success',
        reason: '',
        clientAddress: '',
        details: {
          userId: checkout.userId,
          requestId: checkout.requestId,
          expiresAt: checkout.expiresAt,
          rotationRequired: true,
        },
      });
      return true;
    } catch (error) {
      // Put back so that the next sweep retries. The row has expired, so it grants nothing.
      await this.#deps.access.restoreCheckout(checkout).catch(() => undefined);
      this.#deps.logger.error(
        { err: error, accountId: checkout.accountId, requestId: checkout.requestId },
        'expired checkout could not be audited; the next sweep retries',
      );
      return false;
    }
  }

  async #recordGrantExpiry(request: AccessRequestRecord, now: string): Promise<boolean> {
    if (!(await this.#deps.access.claimExpiry(request.id, now))) {
      return false;
    }

    try {
      await this.#deps.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'access.expired',
        objectType: 'access-request',
        objectId: request.id,
        outcome: 'success',
        reason: '',
        clientAddress: '',
        details: {
          kind: request.kind,
          accountId: request.accountId,
          requesterId: request.requesterId,
          expiresAt: request.expiresAt ?? '',
        },
      });
      return true;
    } catch (error) {
      // Released so that the next sweep tries again.
      await this.#deps.access.releaseExpiryClaim(request.id);
      this.#deps.logger.error(
        { err: error, requestId: request.id },
        'grant expiry could not be audited; the next sweep retries',
      );
      return false;
    }
  }
}
