/**
 * The named unique and foreign key constraints of the schema. The migrations create them under these
 * names, and the repositories use them to recognise a violation on either dialect: PostgreSQL
 * reports the constraint name, SQLite only the table and columns ("UNIQUE constraint failed:
 * users.username").
 */
export const constraints = {
  masterKeysPrimaryKey: {
    name: 'master_keys_pkey',
    table: 'master_keys',
    columns: ['provider', 'key_id'],
  },
  deksPrimaryKey: { name: 'deks_pkey', table: 'deks', columns: ['id'] },
  usersPrimaryKey: { name: 'users_pkey', table: 'users', columns: ['id'] },
  usersUsername: { name: 'users_username_key', table: 'users', columns: ['username'] },
  /** A unique index on lower(username); SQLite reports it by index name. */
  usersUsernameFolded: { name: 'users_username_lower_key', table: 'users', columns: [] },
  apiSessionsPrimaryKey: {
    name: 'api_sessions_pkey',
    table: 'api_sessions',
    columns: ['token_hash'],
  },
  apiSessionsUser: {
    name: 'api_sessions_user_id_fkey',
    table: 'api_sessions',
    columns: ['user_id'],
  },
  targetsPrimaryKey: { name: 'targets_pkey', table: 'targets', columns: ['id'] },
  targetsName: { name: 'targets_name_key', table: 'targets', columns: ['name'] },
  accountsPrimaryKey: { name: 'accounts_pkey', table: 'accounts', columns: ['id'] },
  accountsTargetUsername: {
    name: 'accounts_target_id_username_key',
    table: 'accounts',
    columns: ['target_id', 'username'],
  },
  accountsTarget: { name: 'accounts_target_id_fkey', table: 'accounts', columns: ['target_id'] },
  accountsDek: { name: 'accounts_dek_id_fkey', table: 'accounts', columns: ['dek_id'] },
  secretVersionsPrimaryKey: {
    name: 'account_secret_versions_pkey',
    table: 'account_secret_versions',
    columns: ['account_id', 'version'],
  },
  secretVersionsDek: {
    name: 'account_secret_versions_dek_id_key',
    table: 'account_secret_versions',
    columns: ['dek_id'],
  },
  secretVersionsAccount: {
    name: 'account_secret_versions_account_id_fkey',
    table: 'account_secret_versions',
    columns: ['account_id'],
  },
  secretVersionsDekForeignKey: {
    name: 'account_secret_versions_dek_id_fkey',
    table: 'account_secret_versions',
    columns: ['dek_id'],
  },
  apiTokensPrimaryKey: { name: 'api_tokens_pkey', table: 'api_tokens', columns: ['id'] },
  apiTokensHash: {
    name: 'api_tokens_token_hash_key',
    table: 'api_tokens',
    columns: ['token_hash'],
  },
  apiTokenAccountsPrimaryKey: {
    name: 'api_token_accounts_pkey',
    table: 'api_token_accounts',
    columns: ['token_id', 'account_id'],
  },
  apiTokenAccountsToken: {
    name: 'api_token_accounts_token_id_fkey',
    table: 'api_token_accounts',
    columns: ['token_id'],
  },
  apiTokenAccountsAccount: {
    name: 'api_token_accounts_account_id_fkey',
    table: 'api_token_accounts',
    columns: ['account_id'],
  },
  groupsPrimaryKey: { name: 'groups_pkey', table: 'groups', columns: ['id'] },
  groupsName: { name: 'groups_name_key', table: 'groups', columns: ['name'] },
  /** A unique index on lower(name); SQLite reports it by index name. */
  groupsNameFolded: { name: 'groups_name_lower_key', table: 'groups', columns: [] },
  groupMembersPrimaryKey: {
    name: 'group_members_pkey',
    table: 'group_members',
    columns: ['group_id', 'user_id'],
  },
  groupMembersGroup: {
    name: 'group_members_group_id_fkey',
    table: 'group_members',
    columns: ['group_id'],
  },
  groupMembersUser: {
    name: 'group_members_user_id_fkey',
    table: 'group_members',
    columns: ['user_id'],
  },
  targetGrantsPrimaryKey: {
    name: 'target_grants_pkey',
    table: 'target_grants',
    columns: ['target_id', 'group_id'],
  },
  targetGrantsTarget: {
    name: 'target_grants_target_id_fkey',
    table: 'target_grants',
    columns: ['target_id'],
  },
  targetGrantsGroup: {
    name: 'target_grants_group_id_fkey',
    table: 'target_grants',
    columns: ['group_id'],
  },
  accessPoliciesPrimaryKey: {
    name: 'access_policies_pkey',
    table: 'access_policies',
    columns: ['target_id'],
  },
  accessPoliciesTarget: {
    name: 'access_policies_target_id_fkey',
    table: 'access_policies',
    columns: ['target_id'],
  },
  accessPoliciesGroup: {
    name: 'access_policies_approver_group_id_fkey',
    table: 'access_policies',
    columns: ['approver_group_id'],
  },
  accessRequestsPrimaryKey: {
    name: 'access_requests_pkey',
    table: 'access_requests',
    columns: ['id'],
  },
  accessRequestsAccount: {
    name: 'access_requests_account_id_fkey',
    table: 'access_requests',
    columns: ['account_id'],
  },
  accessRequestsRequester: {
    name: 'access_requests_requester_id_fkey',
    table: 'access_requests',
    columns: ['requester_id'],
  },
  accessDecisionsPrimaryKey: {
    name: 'access_decisions_pkey',
    table: 'access_decisions',
    columns: ['request_id', 'approver_id'],
  },
  accessDecisionsRequest: {
    name: 'access_decisions_request_id_fkey',
    table: 'access_decisions',
    columns: ['request_id'],
  },
  accountCheckoutsPrimaryKey: {
    name: 'account_checkouts_pkey',
    table: 'account_checkouts',
    columns: ['account_id'],
  },
  accountCheckoutsAccount: {
    name: 'account_checkouts_account_id_fkey',
    table: 'account_checkouts',
    columns: ['account_id'],
  },
} as const satisfies Record<string, Constraint>;

export interface Constraint {
  name: string;
  table: string;
  columns: readonly string[];
}

/** SQLSTATE codes of PostgreSQL (Appendix A of its manual). */
const PG_UNIQUE_VIOLATION = '23505';
const PG_FOREIGN_KEY_VIOLATION = '23503';

/** Tells whether an error of either driver is a violation of the given unique constraint. */
export function isUniqueViolation(error: unknown, constraint: Constraint): boolean {
  if (!isDriverError(error)) {
    return false;
  }

  if (error.code === PG_UNIQUE_VIOLATION) {
    return error.constraint === constraint.name;
  }
  if (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    if (constraint.columns.length === 0) {
      // A unique index on an expression, which SQLite names instead of its columns.
      return error.message === `UNIQUE constraint failed: index '${constraint.name}'`;
    }
    const expected = constraint.columns.map((column) => `${constraint.table}.${column}`).join(', ');
    return error.message === `UNIQUE constraint failed: ${expected}`;
  }
  return false;
}

/**
 * Tells whether an error of either driver is a foreign key violation. SQLite does not say which
 * foreign key failed, so on SQLite any foreign key violation matches `constraint`.
 */
export function isForeignKeyViolation(error: unknown, constraint: Constraint): boolean {
  if (!isDriverError(error)) {
    return false;
  }

  if (error.code === PG_FOREIGN_KEY_VIOLATION) {
    return error.constraint === constraint.name;
  }
  return error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** The fields that pg's DatabaseError and better-sqlite3's SqliteError have. */
interface DriverError {
  code: string;
  message: string;
  constraint?: string;
}

function isDriverError(error: unknown): error is DriverError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}
