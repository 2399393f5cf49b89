import { sql, type Kysely } from 'kysely';

import { constraints } from '../constraints.js';
import type { DialectName } from './index.js';

/**
 * Adds what the access workflow needs: the TOTP second factor and login lockout state of users, the
 * scope of API sessions, groups and their members, grants of targets to groups, per-target access
 * policies, access requests with their decisions, exclusive checkouts, and the rotation mark of
 * accounts.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  const name = dialect === 'postgres' ? sql`text collate "C"` : 'text';

  await addUserColumns(db, binary);

  await db.schema
    .alterTable('api_sessions')
    .addColumn('scope', 'text', (column) => column.notNull().defaultTo('full'))
    .execute();
  await db.schema
    .alterTable('accounts')
    .addColumn('rotation_required', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('groups')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('name', name, (column) => column.notNull())
    .addColumn('description', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.groupsPrimaryKey.name, ['id'])
    .addUniqueConstraint(constraints.groupsName.name, ['name'])
    .execute();

  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'text', (column) => column.notNull())
    .addColumn('user_id', 'text', (column) => column.notNull())
    .addColumn('added_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.groupMembersPrimaryKey.name, ['group_id', 'user_id'])
    .addForeignKeyConstraint(constraints.groupMembersGroup.name, ['group_id'], 'groups', ['id'])
    .addForeignKeyConstraint(constraints.groupMembersUser.name, ['user_id'], 'users', ['id'])
    .execute();
  await db.schema
    .createIndex('group_members_user_id_idx')
    .on('group_members')
    .column('user_id')
    .execute();

  await db.schema
    .createTable('target_grants')
    .addColumn('target_id', 'text', (column) => column.notNull())
    .addColumn('group_id', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.targetGrantsPrimaryKey.name, ['target_id', 'group_id'])
    .addForeignKeyConstraint(constraints.targetGrantsTarget.name, ['target_id'], 'targets', ['id'])
    .addForeignKeyConstraint(constraints.targetGrantsGroup.name, ['group_id'], 'groups', ['id'])
    .execute();

  await db.schema
    .createTable('access_policies')
    .addColumn('target_id', 'text', (column) => column.notNull())
    .addColumn('approver_group_id', 'text', (column) => column.notNull())
    .addColumn('approvals_required', 'integer', (column) => column.notNull())
    .addColumn('max_duration_seconds', 'integer', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.accessPoliciesPrimaryKey.name, ['target_id'])
    .addForeignKeyConstraint(constraints.accessPoliciesTarget.name, ['target_id'], 'targets', [
      'id',
    ])
    .addForeignKeyConstraint(
      constraints.accessPoliciesGroup.name,
      ['approver_group_id'],
      'groups',
      ['id'],
    )
    .execute();

  await createAccessRequests(db);

  // One row per checked-out account: the primary key makes a second checkout of the same account
  // fail in the database, whichever service node tries it.
  await db.schema
    .createTable('account_checkouts')
    .addColumn('account_id', 'text', (column) => column.notNull())
    .addColumn('user_id', 'text', (column) => column.notNull())
    .addColumn('request_id', 'text', (column) => column.notNull())
    .addColumn('checked_out_at', 'text', (column) => column.notNull())
    .addColumn('expires_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.accountCheckoutsPrimaryKey.name, ['account_id'])
    .addForeignKeyConstraint(constraints.accountCheckoutsAccount.name, ['account_id'], 'accounts', [
      'id',
    ])
    .execute();
}

async function addUserColumns(db: Kysely<unknown>, binary: 'bytea' | 'blob'): Promise<void> {
  // SQLite adds one column per ALTER TABLE statement.
  const columns: Array<[string, 'text' | 'integer' | 'bytea' | 'blob']> = [
    ['totp_dek_id', 'text'],
    ['totp_secret_ciphertext', binary],
    ['totp_confirmed_at', 'text'],
    ['totp_last_step', 'integer'],
    ['failed_login_window_start', 'text'],
    ['locked_until', 'text'],
  ];
  for (const [column, type] of columns) {
    await db.schema.alterTable('users').addColumn(column, type).execute();
  }
  await db.schema
    .alterTable('users')
    .addColumn('failed_login_count', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();
}

async function createAccessRequests(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('access_requests')
    .addColumn('id', 'text', (column) => column.notNull())
    .addColumn('kind', 'text', (column) => column.notNull())
    .addColumn('account_id', 'text', (column) => column.notNull())
    .addColumn('target_id', 'text', (column) => column.notNull())
    .addColumn('requester_id', 'text', (column) => column.notNull())
    .addColumn('reason', 'text', (column) => column.notNull())
    .addColumn('duration_seconds', 'integer', (column) => column.notNull())
    .addColumn('approvals_required', 'integer', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('decided_at', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('expiry_recorded_at', 'text')
    .addPrimaryKeyConstraint(constraints.accessRequestsPrimaryKey.name, ['id'])
    .addForeignKeyConstraint(constraints.accessRequestsAccount.name, ['account_id'], 'accounts', [
      'id',
    ])
    .addForeignKeyConstraint(constraints.accessRequestsRequester.name, ['requester_id'], 'users', [
      'id',
    ])
    .execute();
  await db.schema
    .createIndex('access_requests_account_requester_idx')
    .on('access_requests')
    .columns(['account_id', 'requester_id'])
    .execute();
  await db.schema
    .createIndex('access_requests_status_expires_at_idx')
    .on('access_requests')
    .columns(['status', 'expires_at'])
    .execute();

  await db.schema
    .createTable('access_decisions')
    .addColumn('request_id', 'text', (column) => column.notNull())
    .addColumn('approver_id', 'text', (column) => column.notNull())
    .addColumn('decision', 'text', (column) => column.notNull())
    .addColumn('comment', 'text', (column) => column.notNull())
    .addColumn('decided_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint(constraints.accessDecisionsPrimaryKey.name, [
      'request_id',
      'approver_id',
    ])
    .addForeignKeyConstraint(
      constraints.accessDecisionsRequest.name,
      ['request_id'],
      'access_requests',
      ['id'],
    )
    .execute();
}
