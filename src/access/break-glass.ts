import { randomUUID } from 'node:crypto';

import { StrongroomError } from '../errors.js';
import type { AccessRequestRecord } from '../store/repositories.js';
import { undoUnlessAudited } from './audit-undo.js';
import {
  addSeconds,
  assertInRange,
  auditActor,
  normalizeReason,
  requireAccount,
  requireRequest,
  toRequestView,
} from './common.js';
import {
  MIN_ACCESS_SECONDS,
  type AccessDependencies,
  type AccessRequestView,
  type Actor,
  type NewAccessRequest,
} from './types.js';

/**
 * Break-glass access: one administrator requests reveal access to an account without the normal
 * approval, and a different administrator confirms it. Both steps raise an alert: an audit event
 * with `alert: true` in its details and an error-level log line.
 */
export class BreakGlassService {
  readonly #deps: AccessDependencies;

  constructor(deps: AccessDependencies) {
    this.#deps = deps;
  }

  async request(input: NewAccessRequest, actor: Actor): Promise<AccessRequestView> {
    const account = await requireAccount(this.#deps, input.accountId);
    const reason = normalizeReason(input.reason, 'body.reason');
    assertInRange(
      input.durationSeconds,
      {
        minimum: MIN_ACCESS_SECONDS,
        maximum: this.#deps.settings.breakGlassMaxSeconds,
        unit: 'seconds',
      },
      'body.durationSeconds',
    );

    const record: AccessRequestRecord = {
      id: randomUUID(),
      kind: 'break-glass',
      accountId: account.id,
      targetId: account.targetId,
      requesterId: actor.userId,
      reason,
      durationSeconds: input.durationSeconds,
      approvalsRequired: 1,
      status: 'pending',
      createdAt: this.#deps.now().toISOString(),
      decidedAt: undefined,
      expiresAt: undefined,
      expiryRecordedAt: undefined,
    };
    await this.#deps.access.insertRequest(record);
    await undoUnlessAudited(this.#alert('breakglass.request', record, reason, actor), () =>
      this.#deps.access.deleteRequest(record.id),
    );
    return toRequestView(record, [], this.#deps.now());
  }

  /**
   * Confirms a pending break-glass request of another administrator; the reveal access starts now
   * and lasts the requested duration. Throws SR_ACCESS_SELF_APPROVAL for the requester.
   */
  async confirm(requestId: string, actor: Actor): Promise<AccessRequestView> {
    const record = await requireRequest(this.#deps, requestId);
    if (record.kind !== 'break-glass') {
      throw new StrongroomError(
        'SR_NOT_FOUND',
        `Break-glass request ${requestId} does not exist. Access requests are approved with POST /api/v1/access-requests/${requestId}/approve.`,
        { details: { requestId } },
      );
    }
    if (record.requesterId === actor.userId) {
      throw new StrongroomError(
        'SR_ACCESS_SELF_APPROVAL',
        `User ${actor.username} made break-glass request ${requestId}. A different administrator must confirm it.`,
        { details: { requestId } },
      );
    }

    const decidedAt = this.#deps.now();
    const expiresAt = addSeconds(decidedAt, record.durationSeconds);
    const decided = await this.#deps.access.decideRequest(requestId, {
      status: 'approved',
      decidedAt: decidedAt.toISOString(),
      expiresAt,
    });
    if (!decided) {
      throw new StrongroomError(
        'SR_ACCESS_REQUEST_NOT_PENDING',
        `Break-glass request ${requestId} is ${record.status} already.`,
        { details: { requestId, status: record.status } },
      );
    }
    await this.#deps.access.insertDecision({
      requestId,
      approverId: actor.userId,
      decision: 'approve',
      comment: '',
      decidedAt: decidedAt.toISOString(),
    });

    const confirmed = { ...record, status: 'approved' as const, expiresAt };
    await undoUnlessAudited(this.#alert('breakglass.confirm', confirmed, '', actor), () =>
      this.#deps.access.undoDecision(requestId, actor.userId, true),
    );
    const decisions = await this.#deps.access.listDecisions(requestId);
    return toRequestView(
      { ...confirmed, decidedAt: decidedAt.toISOString() },
      decisions,
      this.#deps.now(),
    );
  }

  async #alert(
    action: string,
    record: AccessRequestRecord,
    reason: string,
    actor: Actor,
  ): Promise<void> {
    this.#deps.logger.error(
      {
        alert: true,
        action,
        requestId: record.id,
        accountId: record.accountId,
        requesterId: record.requesterId,
        userId: actor.userId,
      },
      action === 'breakglass.request' ? 'break-glass requested' : 'break-glass confirmed',
    );
    await this.#deps.audit.record({
      ...auditActor(actor),
      action,
      objectType: 'access-request',
      objectId: record.id,
      outcome: 'success',
      reason,
      details: {
        alert: true,
        accountId: record.accountId,
        targetId: record.targetId,
        requesterId: record.requesterId,
        durationSeconds: record.durationSeconds,
        ...(record.expiresAt === undefined ? {} : { expiresAt: record.expiresAt }),
      },
    });
  }
}
