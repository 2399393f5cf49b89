import { sql, type Kysely, type Selectable } from 'kysely';

import { StrongroomError } from '../errors.js';
import type {
  AccessPolicyRecord,
  GroupRecord,
  GroupRepository,
  TargetGrantRecord,
} from './access-records.js';
import { constraints, isForeignKeyViolation, isUniqueViolation } from './constraints.js';
import type { AccessPolicyTable, Database } from './schema.js';

/** Groups, memberships, target grants and access policies. Groups are listed by name. */
export class KyselyGroupRepository implements GroupRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Throws SR_CONFLICT, naming the existing group, when a name equal regardless of case exists. The
   * name is checked first because a failed insert aborts a PostgreSQL transaction.
   */
  async insertGroup(record: GroupRecord): Promise<void> {
    const existing = await this.#db
      .selectFrom('groups')
      .select('name')
      .where(sql<string>`lower(name)`, '=', sql<string>`lower(${record.name})`)
      .executeTakeFirst();
    if (existing !== undefined) {
      throw groupExists(record.name, existing.name);
    }
    try {
      await this.#db
        .insertInto('groups')
        .values({
          id: record.id,
          name: record.name,
          description: record.description,
          created_at: record.createdAt,
        })
        .execute();
    } catch (error) {
      if (
        isUniqueViolation(error, constraints.groupsName) ||
        isUniqueViolation(error, constraints.groupsNameFolded)
      ) {
        throw groupExists(record.name, record.name, error);
      }
      throw error;
    }
  }

  async findGroup(id: string): Promise<GroupRecord | undefined> {
    const row = await this.#db
      .selectFrom('groups')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toGroupRecord(row);
  }

  async listGroups(): Promise<GroupRecord[]> {
    const rows = await this.#db.selectFrom('groups').selectAll().orderBy('name').execute();
    return rows.map(toGroupRecord);
  }

  async addMember(groupId: string, userId: string, addedAt: string): Promise<boolean> {
    try {
      await this.#db
        .insertInto('group_members')
        .values({ group_id: groupId, user_id: userId, added_at: addedAt })
        .execute();
      return true;
    } catch (error) {
      if (isUniqueViolation(error, constraints.groupMembersPrimaryKey)) {
        return false;
      }
      if (isForeignKeyViolation(error, constraints.groupMembersUser)) {
        throw new StrongroomError(
          'SR_NOT_FOUND',
          `No user has the id '${userId}', so it was not added to group ${groupId}.`,
          { cause: error, details: { userId, groupId } },
        );
      }
      throw error;
    }
  }

  async removeMember(groupId: string, userId: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('group_members')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async listMemberIds(groupId: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('group_members')
      .select('user_id')
      .where('group_id', '=', groupId)
      .orderBy('user_id')
      .execute();
    return rows.map((row) => row.user_id);
  }

  async isMember(groupId: string, userId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('group_members')
      .select('user_id')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insertGrant(record: TargetGrantRecord): Promise<boolean> {
    try {
      await this.#db
        .insertInto('target_grants')
        .values({
          target_id: record.targetId,
          group_id: record.groupId,
          created_at: record.createdAt,
        })
        .execute();
      return true;
    } catch (error) {
      if (isUniqueViolation(error, constraints.targetGrantsPrimaryKey)) {
        return false;
      }
      throw error;
    }
  }

  async deleteGrant(targetId: string, groupId: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('target_grants')
      .where('target_id', '=', targetId)
      .where('group_id', '=', groupId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async listGrants(targetId: string): Promise<TargetGrantRecord[]> {
    const rows = await this.#db
      .selectFrom('target_grants')
      .selectAll()
      .where('target_id', '=', targetId)
      .orderBy('group_id')
      .execute();
    return rows.map((row) => ({
      targetId: row.target_id,
      groupId: row.group_id,
      createdAt: row.created_at,
    }));
  }

  async hasGrant(targetId: string, userId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('target_grants')
      .innerJoin('group_members', 'group_members.group_id', 'target_grants.group_id')
      .select('target_grants.group_id')
      .where('target_grants.target_id', '=', targetId)
      .where('group_members.user_id', '=', userId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async upsertPolicy(record: AccessPolicyRecord): Promise<void> {
    const values = {
      approver_group_id: record.approverGroupId,
      approvals_required: record.approvalsRequired,
      max_duration_seconds: record.maxDurationSeconds,
      updated_at: record.updatedAt,
    };
    await this.#db
      .insertInto('access_policies')
      .values({ target_id: record.targetId, ...values })
      .onConflict((conflict) => conflict.column('target_id').doUpdateSet(values))
      .execute();
  }

  async findPolicy(targetId: string): Promise<AccessPolicyRecord | undefined> {
    const row = await this.#db
      .selectFrom('access_policies')
      .selectAll()
      .where('target_id', '=', targetId)
      .executeTakeFirst();
    return row === undefined ? undefined : toPolicyRecord(row);
  }
}

function toGroupRecord(row: Selectable<Database['groups']>): GroupRecord {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    createdAt: row.created_at,
  };
}

function toPolicyRecord(row: Selectable<AccessPolicyTable>): AccessPolicyRecord {
  return {
    targetId: row.target_id,
    approverGroupId: row.approver_group_id,
    approvalsRequired: Number(row.approvals_required),
    maxDurationSeconds: Number(row.max_duration_seconds),
    updatedAt: row.updated_at,
  };
}

function groupExists(name: string, existing: string, cause?: unknown): StrongroomError {
  const message =
    existing === name
      ? `A group named '${existing}' exists. Choose another name.`
      : `The group '${existing}' exists, and group names are compared regardless of case. Choose another name than '${name}'.`;
  return new StrongroomError('SR_CONFLICT', message, {
    ...(cause === undefined ? {} : { cause }),
    details: { name, existing },
  });
}
