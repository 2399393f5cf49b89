import { runAudited } from '../audit/atomic.js';
import { StrongroomError } from '../errors.js';
import { auditActor, requireRequest, toRequestView } from './common.js';
import type { AccessDependencies, AccessRequestView, Actor } from './types.js';

/**
 * Cancels a pending access request of the actor and records `access.cancel` in the same
 * transaction. Throws SR_FORBIDDEN for a request of another user and
 * SR_ACCESS_REQUEST_NOT_PENDING once it is decided or cancelled.
 */
export async function cancelAccessRequest(
  deps: AccessDependencies,
  requestId: string,
  actor: Actor,
): Promise<AccessRequestView> {
  const record = await requireRequest(deps, requestId);
  if (record.requesterId !== actor.userId) {
    throw new StrongroomError(
      'SR_FORBIDDEN',
      `Access request ${requestId} belongs to another user. Only its requester may cancel it.`,
      { details: { requestId } },
    );
  }

  const cancelledAt = deps.now().toISOString();
  await runAudited(deps.audit, { access: deps.access }, async ({ access, audit }) => {
    if (!(await access.cancelRequest(requestId, actor.userId, cancelledAt))) {
      throw new StrongroomError(
        'SR_ACCESS_REQUEST_NOT_PENDING',
        `Access request ${requestId} is ${record.status}, not pending, so it cannot be cancelled.`,
        { details: { requestId, status: record.status } },
      );
    }
    await audit.record({
      ...auditActor(actor),
      action: 'access.cancel',
      objectType: 'access-request',
      objectId: requestId,
      outcome: 'success',
      reason: '',
      details: { accountId: record.accountId, targetId: record.targetId },
    });
  });

  const cancelled = await requireRequest(deps, requestId);
  return toRequestView(cancelled, await deps.access.listDecisions(requestId), deps.now());
}
