import type { AccessRequestRecord } from '../store/repositories.js';
import type { AccessDependencies, Actor } from './types.js';

/**
 * Keeps the standard requests whose target's approver group has the actor as a member. Each
 * target's policy and membership are looked up once per call.
 */
export async function filterApprovable(
  deps: AccessDependencies,
  records: AccessRequestRecord[],
  actor: Actor,
): Promise<AccessRequestRecord[]> {
  const approverOf = new Map<string, boolean>();
  const result: AccessRequestRecord[] = [];

  for (const record of records) {
    if (record.kind !== 'standard') {
      continue;
    }

    let allowed = approverOf.get(record.targetId);
    if (allowed === undefined) {
      const policy = await deps.groups.findPolicy(record.targetId);
      allowed =
        policy !== undefined && (await deps.groups.isMember(policy.approverGroupId, actor.userId));
      approverOf.set(record.targetId, allowed);
    }
    if (allowed) {
      result.push(record);
    }
  }
  return result;
}
