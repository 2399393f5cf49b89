import { StrongroomError } from '../errors.js';
import type { AccessRequestRecord, CheckoutRecord } from '../store/repositories.js';
import type { RevealedSecret } from '../vault/types.js';
import { auditActor, normalizeReason, requireAccount } from './common.js';
import type { CheckoutSweeper } from './sweep.js';
import type { AccessDependencies, Actor } from './types.js';

/** A checked-out secret and when the checkout ends unless checked in before. */
export interface CheckedOutSecret extends RevealedSecret {
  expiresAt: string;
}

/**
 * Use of an account within an active grant: reveal, or exclusive checkout until check-in or the
 * end of the grant. No role reads a secret without a grant: operators need an approved request,
 * administrators a confirmed break-glass request.
 */
export class AccountUseService {
  readonly #deps: AccessDependencies;
  readonly #sweeper: CheckoutSweeper;

  constructor(deps: AccessDependencies, sweeper: CheckoutSweeper) {
    this.#deps = deps;
    this.#sweeper = sweeper;
  }

  /**
   * Reveals the secret to the holder of an active grant. Throws SR_ACCESS_NOT_GRANTED without one
   * and SR_ACCOUNT_CHECKED_OUT while another user has the account checked out.
   */
  async reveal(accountId: string, reason: string, actor: Actor): Promise<RevealedSecret> {
    const trimmed = normalizeReason(reason, 'body.reason');
    await requireAccount(this.#deps, accountId);
    const grant = await this.#requireGrant(accountId, actor);

    const checkout = await this.#sweeper.currentCheckout(accountId);
    if (checkout !== undefined && checkout.userId !== actor.userId) {
      throw checkedOutError(accountId, checkout, actor);
    }

    if (grant.kind === 'break-glass') {
      this.#deps.logger.error(
        { alert: true, accountId, requestId: grant.id, userId: actor.userId },
        'break-glass reveal',
      );
    }
    return this.#deps.secrets.revealSecret(accountId, trimmed, actor, {
      requestId: grant.id,
      grantKind: grant.kind,
      ...(grant.kind === 'break-glass' ? { alert: true } : {}),
    });
  }

  /**
   * Checks the account out to the actor until check-in or the end of the grant, and returns the
   * secret. The primary key of account_checkouts lets exactly one of several concurrent checkouts
   * succeed, on any number of service nodes. Throws SR_ACCOUNT_CHECKED_OUT when it is taken.
   */
  async checkout(accountId: string, reason: string, actor: Actor): Promise<CheckedOutSecret> {
    const trimmed = normalizeReason(reason, 'body.reason');
    await requireAccount(this.#deps, accountId);
    const grant = await this.#requireGrant(accountId, actor);
    await this.#sweeper.currentCheckout(accountId);

    const record: CheckoutRecord = {
      accountId,
      userId: actor.userId,
      requestId: grant.id,
      checkedOutAt: this.#deps.now().toISOString(),
      expiresAt: grant.expiresAt ?? this.#deps.now().toISOString(),
    };
    if (!(await this.#deps.access.insertCheckout(record))) {
      const holder = await this.#deps.access.findCheckout(accountId);
      throw checkedOutError(accountId, holder, actor);
    }

    try {
      await this.#deps.audit.record({
        ...auditActor(actor),
        action: 'account.checkout',
        objectType: 'account',
        objectId: accountId,
        outcome: 'success',
        reason: trimmed,
        details: { requestId: grant.id, expiresAt: record.expiresAt },
      });
      const revealed = await this.#deps.secrets.revealSecret(accountId, trimmed, actor, {
        requestId: grant.id,
        checkout: true,
      });
      return { ...revealed, expiresAt: record.expiresAt };
    } catch (error) {
      // Without its audit events the checkout did not happen, so the account is free again.
      await this.#deps.access.deleteCheckout(record).catch((deleteError: unknown) => {
        this.#deps.logger.error(
          { err: deleteError, accountId },
          'checkout without audit event could not be removed',
        );
      });
      throw error;
    }
  }

  /** Ends the actor's checkout and marks the account for rotation. */
  async checkin(accountId: string, actor: Actor): Promise<{ rotationRequired: true }> {
    await requireAccount(this.#deps, accountId);
    const checkout = await this.#deps.access.findCheckout(accountId);
    if (checkout === undefined || checkout.userId !== actor.userId) {
      throw new StrongroomError(
        'SR_ACCOUNT_NOT_CHECKED_OUT',
        `Account ${accountId} is not checked out by user ${actor.username}, so there is nothing to check in.`,
        { details: { accountId } },
      );
    }

    if (!(await this.#deps.access.endCheckout(checkout))) {
      throw new StrongroomError(
        'SR_ACCOUNT_NOT_CHECKED_OUT',
        `The checkout of account ${accountId} ended meanwhile, by expiry or another check-in.`,
        { details: { accountId } },
      );
    }

    try {
      await this.#deps.audit.record({
        ...auditActor(actor),
        action: 'account.checkin',
        objectType: 'account',
        objectId: accountId,
        outcome: 'success',
        reason: '',
        details: { requestId: checkout.requestId, rotationRequired: true },
      });
    } catch (error) {
      await this.#deps.access.restoreCheckout(checkout).catch((restoreError: unknown) => {
        this.#deps.logger.error(
          { err: restoreError, accountId },
          'checkout of a rejected check-in could not be restored',
        );
      });
      throw error;
    }
    return { rotationRequired: true };
  }

  async #requireGrant(accountId: string, actor: Actor): Promise<AccessRequestRecord> {
    const grant = await this.#deps.access.findActiveGrant(
      accountId,
      actor.userId,
      this.#deps.now().toISOString(),
    );
    // Operators use approved requests and administrators confirmed break-glass requests; a role
    // never uses the other kind, whatever rows exist.
    const expectedKind = actor.role === 'administrator' ? 'break-glass' : 'standard';
    if (grant === undefined || grant.kind !== expectedKind) {
      const how =
        expectedKind === 'break-glass'
          ? 'Request break-glass access with POST /api/v1/break-glass and have another administrator confirm it.'
          : 'Request access with POST /api/v1/access-requests and wait for its approval.';
      throw new StrongroomError(
        'SR_ACCESS_NOT_GRANTED',
        `User ${actor.username} has no active access grant for account ${accountId}. ${how}`,
        { details: { accountId } },
      );
    }
    return grant;
  }
}

function checkedOutError(
  accountId: string,
  holder: CheckoutRecord | undefined,
  actor: Actor,
): StrongroomError {
  if (holder?.userId === actor.userId) {
    return new StrongroomError(
      'SR_ACCOUNT_CHECKED_OUT',
      `Account ${accountId} is checked out by user ${actor.username} already. Check it in before checking it out again.`,
      { details: { accountId } },
    );
  }

  const until = holder === undefined ? '' : ` until ${holder.expiresAt} or its check-in`;
  return new StrongroomError(
    'SR_ACCOUNT_CHECKED_OUT',
    `Account ${accountId} is checked out by another user${until}. Try again after that.`,
    { details: { accountId } },
  );
}
