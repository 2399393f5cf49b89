import { StrongroomError } from '../errors.js';
import type {
  AccessDecisionRecord,
  AccessRequestRecord,
  AccountRecord,
  GroupRecord,
  TargetRecord,
} from '../store/repositories.js';
import type { AccessDependencies, AccessRequestView, Actor } from './types.js';

export const REASON_MIN_LENGTH = 3;
export const REASON_MAX_LENGTH = 500;

export async function requireAccount(
  deps: AccessDependencies,
  accountId: string,
): Promise<AccountRecord> {
  const account = await deps.vault.findAccount(accountId);
  if (account === undefined) {
    throw new StrongroomError('SR_NOT_FOUND', `Account ${accountId} does not exist.`, {
      details: { accountId },
    });
  }
  return account;
}

export async function requireTarget(
  deps: AccessDependencies,
  targetId: string,
): Promise<TargetRecord> {
  const target = await deps.vault.findTarget(targetId);
  if (target === undefined) {
    throw new StrongroomError('SR_NOT_FOUND', `Target ${targetId} does not exist.`, {
      details: { targetId },
    });
  }
  return target;
}

export async function requireGroup(
  deps: AccessDependencies,
  groupId: string,
): Promise<GroupRecord> {
  const group = await deps.groups.findGroup(groupId);
  if (group === undefined) {
    throw new StrongroomError('SR_NOT_FOUND', `Group ${groupId} does not exist.`, {
      details: { groupId },
    });
  }
  return group;
}

export async function requireRequest(
  deps: AccessDependencies,
  requestId: string,
): Promise<AccessRequestRecord> {
  const request = await deps.access.findRequest(requestId);
  if (request === undefined) {
    throw new StrongroomError('SR_NOT_FOUND', `Access request ${requestId} does not exist.`, {
      details: { requestId },
    });
  }
  return request;
}

/** Trims a reason and throws SR_VALIDATION_FAILED when fewer than 3 characters remain. */
export function normalizeReason(reason: string, field: string): string {
  const trimmed = reason.trim();
  if ([...trimmed].length < REASON_MIN_LENGTH) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      `The field ${field} is too short: it must have at least ${REASON_MIN_LENGTH} characters besides leading and trailing blanks.`,
      { details: { field } },
    );
  }
  return trimmed;
}

/** Throws SR_VALIDATION_FAILED unless `value` is a whole number from `minimum` to `maximum`. */
export function assertInRange(
  value: number,
  range: { minimum: number; maximum: number; unit: string },
  field: string,
): void {
  if (!Number.isSafeInteger(value) || value < range.minimum || value > range.maximum) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      `The field ${field} is ${value}, outside the allowed range. Give ${range.minimum} to ${range.maximum} ${range.unit}.`,
      { details: { field, minimum: range.minimum, maximum: range.maximum } },
    );
  }
}

/** The actor and client address fields of an audit event. */
export function auditActor(actor: Actor): { actor: string; clientAddress: string } {
  return { actor: actor.username, clientAddress: actor.clientAddress };
}

/** Adds `seconds` to an ISO 8601 time and returns the result in the same form. */
export function addSeconds(at: Date, seconds: number): string {
  return new Date(at.getTime() + seconds * 1000).toISOString();
}

export function toRequestView(
  record: AccessRequestRecord,
  decisions: AccessDecisionRecord[],
  now: Date,
): AccessRequestView {
  const expired =
    record.status === 'approved' &&
    record.expiresAt !== undefined &&
    Date.parse(record.expiresAt) <= now.getTime();

  return {
    id: record.id,
    kind: record.kind,
    accountId: record.accountId,
    targetId: record.targetId,
    requesterId: record.requesterId,
    reason: record.reason,
    durationSeconds: record.durationSeconds,
    approvalsRequired: record.approvalsRequired,
    status: expired ? 'expired' : record.status,
    createdAt: record.createdAt,
    ...(record.decidedAt === undefined ? {} : { decidedAt: record.decidedAt }),
    ...(record.expiresAt === undefined ? {} : { expiresAt: record.expiresAt }),
    decisions: decisions.map((decision) => ({
      approverId: decision.approverId,
      decision: decision.decision,
      comment: decision.comment,
      decidedAt: decision.decidedAt,
    })),
  };
}
