import { randomUUID } from 'node:crypto';

import { StrongroomError } from '../errors.js';
import { runAudited } from '../audit/atomic.js';
import type { GroupRecord, GroupRepository } from '../store/repositories.js';
import { assertInRange, auditActor, requireGroup, requireTarget } from './common.js';
import {
  DEFAULT_MAX_ACCESS_SECONDS,
  MAX_POLICY_SECONDS,
  MIN_ACCESS_SECONDS,
  type AccessDependencies,
  type Actor,
  type GroupView,
  type PolicyInput,
  type PolicyView,
} from './types.js';

type RecordEvent = (
  actor: Actor,
  action: string,
  objectType: string,
  objectId: string,
  details: Record<string, string | number>,
) => Promise<void>;

/** Most approvals a policy may require; more would stall every request. */
export const MAX_APPROVALS_REQUIRED = 10;

/**
 * Groups, their members, the grants of targets to groups and the access policy of each target.
 * Every change commits in one transaction with its audit event, or not at all.
 */
export class GroupAdminService {
  readonly #deps: AccessDependencies;

  constructor(deps: AccessDependencies) {
    this.#deps = deps;
  }

  async createGroup(
    input: { name: string; description: string },
    actor: Actor,
  ): Promise<GroupView> {
    const record: GroupRecord = {
      id: randomUUID(),
      name: input.name,
      description: input.description,
      createdAt: this.#deps.now().toISOString(),
    };
    await this.#change(async (groups, recordEvent) => {
      await groups.insertGroup(record);
      await recordEvent(actor, 'group.create', 'group', record.id, { name: record.name });
    });
    return { ...record, memberIds: [] };
  }

  async listGroups(): Promise<GroupView[]> {
    const groups = await this.#deps.groups.listGroups();
    return Promise.all(groups.map((group) => this.#toView(group)));
  }

  async getGroup(groupId: string): Promise<GroupView> {
    return this.#toView(await requireGroup(this.#deps, groupId));
  }

  async addMember(groupId: string, userId: string, actor: Actor): Promise<GroupView> {
    const group = await requireGroup(this.#deps, groupId);
    await this.#change(async (groups, record) => {
      // A duplicate insert would abort a PostgreSQL transaction, so membership is checked first.
      if (await groups.isMember(groupId, userId)) {
        return;
      }
      await groups.addMember(groupId, userId, this.#deps.now().toISOString());
      await record(actor, 'group.member.add', 'group', groupId, { name: group.name, userId });
    });
    return this.#toView(group);
  }

  async removeMember(groupId: string, userId: string, actor: Actor): Promise<GroupView> {
    const group = await requireGroup(this.#deps, groupId);
    await this.#change(async (groups, record) => {
      const removed = await groups.removeMember(groupId, userId);
      if (!removed) {
        throw new StrongroomError(
          'SR_NOT_FOUND',
          `User ${userId} is not a member of group ${group.name}.`,
          { details: { groupId, userId } },
        );
      }
      await record(actor, 'group.member.remove', 'group', groupId, { name: group.name, userId });
    });
    return this.#toView(group);
  }

  /** Lets the members of the group request access to the accounts of the target. */
  async grantTarget(targetId: string, groupId: string, actor: Actor): Promise<string[]> {
    await requireTarget(this.#deps, targetId);
    const group = await requireGroup(this.#deps, groupId);
    await this.#change(async (groups, record) => {
      // A duplicate insert would abort a PostgreSQL transaction, so the grant is checked first.
      const existing = await groups.listGrants(targetId);
      if (existing.some((grant) => grant.groupId === groupId)) {
        return;
      }
      await groups.insertGrant({ targetId, groupId, createdAt: this.#deps.now().toISOString() });
      await record(actor, 'grant.create', 'target', targetId, { groupId, groupName: group.name });
    });
    return this.listGrants(targetId);
  }

  async revokeGrant(targetId: string, groupId: string, actor: Actor): Promise<string[]> {
    await requireTarget(this.#deps, targetId);
    await this.#change(async (groups, record) => {
      const deleted = await groups.deleteGrant(targetId, groupId);
      if (!deleted) {
        throw new StrongroomError(
          'SR_NOT_FOUND',
          `Group ${groupId} has no grant on target ${targetId}.`,
          { details: { targetId, groupId } },
        );
      }
      await record(actor, 'grant.delete', 'target', targetId, { groupId });
    });
    return this.listGrants(targetId);
  }

  /** Returns the ids of the groups granted the target. */
  async listGrants(targetId: string): Promise<string[]> {
    await requireTarget(this.#deps, targetId);
    return (await this.#deps.groups.listGrants(targetId)).map((grant) => grant.groupId);
  }

  /** Creates or replaces the access policy of a target. */
  async setPolicy(targetId: string, input: PolicyInput, actor: Actor): Promise<PolicyView> {
    await requireTarget(this.#deps, targetId);
    await requireGroup(this.#deps, input.approverGroupId);
    const approvalsRequired = input.approvalsRequired ?? 1;
    const maxDurationSeconds = input.maxDurationSeconds ?? DEFAULT_MAX_ACCESS_SECONDS;
    assertInRange(
      approvalsRequired,
      { minimum: 1, maximum: MAX_APPROVALS_REQUIRED, unit: 'approvals' },
      'body.approvalsRequired',
    );
    assertInRange(
      maxDurationSeconds,
      { minimum: MIN_ACCESS_SECONDS, maximum: MAX_POLICY_SECONDS, unit: 'seconds' },
      'body.maxDurationSeconds',
    );

    const policy: PolicyView = {
      targetId,
      approverGroupId: input.approverGroupId,
      approvalsRequired,
      maxDurationSeconds,
      updatedAt: this.#deps.now().toISOString(),
    };
    await this.#change(async (groups, record) => {
      await groups.upsertPolicy(policy);
      await record(actor, 'policy.update', 'target', targetId, {
        approverGroupId: policy.approverGroupId,
        approvalsRequired,
        maxDurationSeconds,
      });
    });
    return policy;
  }

  async getPolicy(targetId: string): Promise<PolicyView> {
    await requireTarget(this.#deps, targetId);
    const policy = await this.#deps.groups.findPolicy(targetId);
    if (policy === undefined) {
      throw new StrongroomError(
        'SR_NOT_FOUND',
        `Target ${targetId} has no access policy. Set one with PUT /api/v1/targets/${targetId}/policy.`,
        { details: { targetId } },
      );
    }
    return policy;
  }

  async #toView(group: GroupRecord): Promise<GroupView> {
    return { ...group, memberIds: await this.#deps.groups.listMemberIds(group.id) };
  }

  /** Runs a change and the events it records in one transaction. */
  #change(work: (groups: GroupRepository, record: RecordEvent) => Promise<void>): Promise<void> {
    return runAudited(this.#deps.audit, { groups: this.#deps.groups }, ({ groups, audit }) =>
      work(groups, (actor, action, objectType, objectId, details) =>
        audit.record({
          ...auditActor(actor),
          action,
          objectType,
          objectId,
          outcome: 'success',
          reason: '',
          details,
        }),
      ),
    );
  }
}
