import { randomUUID } from 'node:crypto';

import { StrongroomError } from '../errors.js';
import type { AccessPolicyRecord, AccessRequestRecord } from '../store/repositories.js';
import { filterApprovable } from './approvers.js';
import { undoUnlessAudited } from './audit-undo.js';
import { cancelAccessRequest } from './cancel.js';
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
 * Access requests: an operator asks for time-limited access to one account; approvers from the
 * target's approver group approve or reject. The requester never decides on their own request.
 */
export class AccessRequestService {
  readonly #deps: AccessDependencies;

  constructor(deps: AccessDependencies) {
    this.#deps = deps;
  }

  /**
   * Records a pending request. Throws SR_ACCESS_POLICY_MISSING when the target has no policy and
   * SR_FORBIDDEN when no group of the requester is granted the target.
   */
  async create(input: NewAccessRequest, actor: Actor): Promise<AccessRequestView> {
    const account = await requireAccount(this.#deps, input.accountId);
    const policy = await this.#requirePolicy(account.targetId);
    const reason = normalizeReason(input.reason, 'body.reason');
    assertInRange(
      input.durationSeconds,
      { minimum: MIN_ACCESS_SECONDS, maximum: policy.maxDurationSeconds, unit: 'seconds' },
      'body.durationSeconds',
    );

    if (!(await this.#deps.groups.hasGrant(account.targetId, actor.userId))) {
      throw new StrongroomError(
        'SR_FORBIDDEN',
        `No group of user ${actor.username} is granted target ${account.targetId}. Ask an administrator to add you to a group with a grant on it.`,
        { details: { targetId: account.targetId } },
      );
    }

    const record: AccessRequestRecord = {
      id: randomUUID(),
      kind: 'standard',
      accountId: account.id,
      targetId: account.targetId,
      requesterId: actor.userId,
      reason,
      durationSeconds: input.durationSeconds,
      approvalsRequired: policy.approvalsRequired,
      status: 'pending',
      createdAt: this.#deps.now().toISOString(),
      decidedAt: undefined,
      expiresAt: undefined,
      expiryRecordedAt: undefined,
    };
    await this.#deps.access.insertRequest(record);
    await undoUnlessAudited(
      this.#deps.audit.record({
        ...auditActor(actor),
        action: 'access.request',
        objectType: 'access-request',
        objectId: record.id,
        outcome: 'success',
        reason,
        details: {
          accountId: account.id,
          targetId: account.targetId,
          durationSeconds: record.durationSeconds,
        },
      }),
      () => this.#deps.access.deleteRequest(record.id),
    );
    return toRequestView(record, [], this.#deps.now());
  }

  /**
   * Lists the requests the actor may see: all for administrators and auditors, their own for
   * operators, and those they may decide on for approvers.
   */
  async list(actor: Actor): Promise<AccessRequestView[]> {
    const records =
      actor.role === 'operator'
        ? await this.#deps.access.listRequests({ requesterId: actor.userId })
        : await this.#deps.access.listRequests({});

    const visible =
      actor.role === 'approver' ? await filterApprovable(this.#deps, records, actor) : records;
    return Promise.all(visible.map((record) => this.#toView(record)));
  }

  /** Returns one request. Operators see only their own and approvers only those they may decide. */
  async get(requestId: string, actor: Actor): Promise<AccessRequestView> {
    const record = await requireRequest(this.#deps, requestId);
    const visible =
      actor.role === 'operator'
        ? record.requesterId === actor.userId
        : actor.role === 'approver'
          ? (await filterApprovable(this.#deps, [record], actor)).length === 1
          : true;
    if (!visible) {
      throw new StrongroomError('SR_NOT_FOUND', `Access request ${requestId} does not exist.`, {
        details: { requestId },
      });
    }
    return this.#toView(record);
  }

  /** Approves a request; once it has the approvals its policy requires, access starts. */
  async approve(requestId: string, comment: string, actor: Actor): Promise<AccessRequestView> {
    return this.#decide(requestId, 'approve', comment, actor);
  }

  /** Rejects a request; one rejection ends it. */
  async reject(requestId: string, comment: string, actor: Actor): Promise<AccessRequestView> {
    return this.#decide(requestId, 'reject', comment, actor);
  }

  /** Cancels a pending request of the actor; see cancelAccessRequest. */
  async cancel(requestId: string, actor: Actor): Promise<AccessRequestView> {
    return cancelAccessRequest(this.#deps, requestId, actor);
  }

  async #decide(
    requestId: string,
    decision: 'approve' | 'reject',
    comment: string,
    actor: Actor,
  ): Promise<AccessRequestView> {
    const record = await requireRequest(this.#deps, requestId);
    await this.#assertMayDecide(record, actor);

    const decidedAt = this.#deps.now();
    const inserted = await this.#deps.access.insertDecision({
      requestId,
      approverId: actor.userId,
      decision,
      comment,
      decidedAt: decidedAt.toISOString(),
    });
    if (!inserted) {
      throw new StrongroomError(
        'SR_ACCESS_ALREADY_DECIDED',
        `User ${actor.username} has decided on access request ${requestId} already.`,
        { details: { requestId } },
      );
    }

    const outcome = await this.#settle(record, decision, decidedAt);
    await undoUnlessAudited(
      this.#deps.audit.record({
        ...auditActor(actor),
        action: decision === 'approve' ? 'access.approve' : 'access.reject',
        objectType: 'access-request',
        objectId: requestId,
        outcome: 'success',
        reason: comment,
        details: {
          accountId: record.accountId,
          requesterId: record.requesterId,
          status: outcome.status,
          ...(outcome.expiresAt === undefined ? {} : { expiresAt: outcome.expiresAt }),
        },
      }),
      () => this.#deps.access.undoDecision(requestId, actor.userId, outcome.status !== 'pending'),
    );
    return this.#toView(await requireRequest(this.#deps, requestId));
  }

  /** Moves the request to its next status once the decisions so far settle it. */
  async #settle(
    record: AccessRequestRecord,
    decision: 'approve' | 'reject',
    decidedAt: Date,
  ): Promise<{ status: string; expiresAt?: string }> {
    if (decision === 'reject') {
      await this.#deps.access.decideRequest(record.id, {
        status: 'rejected',
        decidedAt: decidedAt.toISOString(),
      });
      return { status: 'rejected' };
    }

    const decisions = await this.#deps.access.listDecisions(record.id);
    const approvals = decisions.filter((entry) => entry.decision === 'approve').length;
    if (approvals < record.approvalsRequired) {
      return { status: 'pending' };
    }

    const expiresAt = addSeconds(decidedAt, record.durationSeconds);
    await this.#deps.access.decideRequest(record.id, {
      status: 'approved',
      decidedAt: decidedAt.toISOString(),
      expiresAt,
    });
    return { status: 'approved', expiresAt };
  }

  async #assertMayDecide(record: AccessRequestRecord, actor: Actor): Promise<void> {
    if (record.kind !== 'standard') {
      throw new StrongroomError(
        'SR_FORBIDDEN',
        `Access request ${record.id} is a break-glass request. Another administrator confirms it with POST /api/v1/break-glass/${record.id}/confirm.`,
        { details: { requestId: record.id } },
      );
    }
    if (record.requesterId === actor.userId) {
      throw new StrongroomError(
        'SR_ACCESS_SELF_APPROVAL',
        `User ${actor.username} made access request ${record.id} and cannot decide on it. Another approver must.`,
        { details: { requestId: record.id } },
      );
    }
    if ((await filterApprovable(this.#deps, [record], actor)).length === 0) {
      throw new StrongroomError(
        'SR_FORBIDDEN',
        `User ${actor.username} is not in the approver group of target ${record.targetId}, so cannot decide on access request ${record.id}.`,
        { details: { requestId: record.id, targetId: record.targetId } },
      );
    }
    if (record.status !== 'pending') {
      throw new StrongroomError(
        'SR_ACCESS_REQUEST_NOT_PENDING',
        `Access request ${record.id} is ${record.status} already.`,
        { details: { requestId: record.id, status: record.status } },
      );
    }
  }

  async #requirePolicy(targetId: string): Promise<AccessPolicyRecord> {
    const policy = await this.#deps.groups.findPolicy(targetId);
    if (policy === undefined) {
      throw new StrongroomError(
        'SR_ACCESS_POLICY_MISSING',
        `Target ${targetId} has no access policy, so nobody can approve access to its accounts. Ask an administrator to set one with PUT /api/v1/targets/${targetId}/policy.`,
        { details: { targetId } },
      );
    }
    return policy;
  }

  async #toView(record: AccessRequestRecord): Promise<AccessRequestView> {
    const decisions = await this.#deps.access.listDecisions(record.id);
    return toRequestView(record, decisions, this.#deps.now());
  }
}
