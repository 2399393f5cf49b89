import type { Generated } from 'kysely';

/**
 * The database schema shared by SQLite and PostgreSQL. Timestamps are ISO 8601 strings in UTC so
 * that both dialects store and compare them the same way; binary columns are BLOB or BYTEA.
 */
export interface Database {
  master_keys: MasterKeyTable;
  deks: DekTable;
  users: UserTable;
  api_sessions: ApiSessionTable;
  targets: TargetTable;
  accounts: AccountTable;
  account_secret_versions: AccountSecretVersionTable;
  api_tokens: ApiTokenTable;
  api_token_accounts: ApiTokenAccountTable;
  audit_events: AuditEventTable;
  audit_chain_head: AuditChainHeadTable;
  audit_checkpoints: AuditCheckpointTable;
  audit_key_rollovers: AuditKeyRolloverTable;
  dek_migration_runs: DekMigrationRunTable;
  dek_migration_lock: DekMigrationLockTable;
  groups: GroupTable;
  group_members: GroupMemberTable;
  target_grants: TargetGrantTable;
  access_policies: AccessPolicyTable;
  access_requests: AccessRequestTable;
  access_decisions: AccessDecisionTable;
  account_checkouts: AccountCheckoutTable;
}

/** One row per master key ever used, with its canary: a known value wrapped under the key. */
export interface MasterKeyTable {
  provider: string;
  key_id: string;
  kcv: string;
  mechanism: string;
  canary: Buffer;
  created_at: string;
}

/** A data-encryption key, wrapped under the master key that the row names. */
export interface DekTable {
  id: string;
  provider: string;
  key_id: string;
  kcv: string;
  mechanism: string;
  wrapped: Buffer;
  created_at: string;
  updated_at: string;
}

export interface UserTable {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  created_at: string;
  /** 0 or 1, since SQLite has no boolean type. */
  disabled: number;
  /** The DEK that seals the TOTP secret, or null before enrolment. */
  totp_dek_id: string | null;
  /** 12-byte IV, ciphertext and 16-byte GCM tag of the base32 TOTP secret. */
  totp_secret_ciphertext: Buffer | null;
  /** When the user proved the TOTP secret with a code; null while enrolment is pending. */
  totp_confirmed_at: string | null;
  /** The 30-second time step of the last accepted code, so that a code is accepted once. */
  totp_last_step: number | null;
  failed_login_count: Generated<number>;
  failed_login_window_start: string | null;
  locked_until: string | null;
}

/** A bearer token, stored only as its SHA-256 hash. */
export interface ApiSessionTable {
  token_hash: string;
  user_id: string;
  created_at: string;
  expires_at: string;
  client_address: string;
  /** `full`, or `enrolment` for a session that may only enrol a TOTP second factor. */
  scope: Generated<string>;
}

export interface TargetTable {
  id: string;
  name: string;
  address: string;
  description: string;
  created_at: string;
}

/**
 * A privileged account on a target. Its secrets are rows of account_secret_versions, and
 * `secret_version` names the current one.
 */
export interface AccountTable {
  id: string;
  target_id: string;
  username: string;
  description: string;
  /**
   * The DEK of the current secret version, equal to that version's dek_id. The column stays
   * because SQLite cannot drop a column that a foreign key uses without rebuilding the table.
   */
  dek_id: string;
  secret_version: number;
  created_at: string;
  updated_at: string;
  /** 1 once a checkout ended, until the secret is replaced. */
  rotation_required: Generated<number>;
}

/** One version of the secret of an account, encrypted under a DEK of its own. */
export interface AccountSecretVersionTable {
  account_id: string;
  version: number;
  /** `password` or `ssh-private-key`. */
  secret_type: string;
  dek_id: string;
  /** 12-byte IV, ciphertext and 16-byte GCM tag. */
  secret_ciphertext: Buffer;
  created_at: string;
  /** The user who stored the version; empty for secrets stored before versions were kept. */
  created_by: string;
  reason: string;
}

/** An API token of an application, stored only as its SHA-256 hash. */
export interface ApiTokenTable {
  id: string;
  name: string;
  token_hash: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  /** JSON array of CIDR blocks, IPv4 or IPv6, from which the token may be used. */
  allowed_networks: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** The accounts whose secrets an API token may retrieve. */
export interface ApiTokenAccountTable {
  token_id: string;
  account_id: string;
}

/** An audit event: actor, action, time, reason and client address. Never contains a secret. */
export interface AuditEventTable {
  seq: Generated<number>;
  occurred_at: string;
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  outcome: string;
  reason: string;
  client_address: string;
  /** Canonical JSON: keys sorted, no whitespace. */
  details: string;
  /** Lowercase hex SHA-256 of the event before, or 64 zeros for the first event. */
  prev_hash: string;
  /** Lowercase hex SHA-256 over the encoded fields and prev_hash (docs/audit.md). */
  hash: string;
}

/** The one row (id 1) with the seq and hash of the last event; appends lock it. */
export interface AuditChainHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** A MAC'd record of the chain head at one moment. */
export interface AuditCheckpointTable {
  id: Generated<number>;
  event_seq: number;
  head_hash: string;
  created_at: string;
  /** `file` or `hsm`: the provider whose key made the MAC. */
  provider: string;
  /** The HSM key label, or the id of the key derived from the file key. */
  key_id: string;
  /** `hmac-sha256` or `aes-cmac`. */
  algorithm: string;
  /** The MAC in lowercase hex. */
  mac: string;
}

/** One row per run of `strongroom dek migrate` or `dek renew`: the journal that `dek status` lists. */
export interface DekMigrationRunTable {
  id: string;
  started_at: string;
  finished_at: string | null;
  /** `migrate` or `renew`. */
  command: string;
  source_provider: string;
  source_key_id: string;
  source_kcv: string;
  target_provider: string;
  target_key_id: string;
  target_kcv: string;
  /** 0 or 1, since SQLite has no boolean type. */
  dry_run: number;
  migrated: number;
  skipped: number;
  unknown: number;
  failed: number;
  /** `running`, `completed`, `interrupted` or `failed`; a crashed run stays `running`. */
  outcome: string;
  host: string;
  pid: number;
}

/**
 * The SQLite lock of DEK migrations: at most one row, keyed by a fixed name, naming the process that
 * holds it. PostgreSQL uses an advisory lock instead and leaves this table empty.
 */
export interface DekMigrationLockTable {
  name: string;
  host: string;
  pid: number;
  started_at: string;
}

export interface GroupTable {
  id: string;
  name: string;
  description: string;
  created_at: string;
}

export interface GroupMemberTable {
  group_id: string;
  user_id: string;
  added_at: string;
}

/** A grant that lets the members of a group request access to the accounts of a target. */
export interface TargetGrantTable {
  target_id: string;
  group_id: string;
  created_at: string;
}

/** The approval policy of a target: approver group, approvals needed and maximum access period. */
export interface AccessPolicyTable {
  target_id: string;
  approver_group_id: string;
  approvals_required: number;
  max_duration_seconds: number;
  updated_at: string;
}

/** A request for time-limited access to one account, or a break-glass request. */
export interface AccessRequestTable {
  id: string;
  /** `standard` or `break-glass`. */
  kind: string;
  account_id: string;
  target_id: string;
  requester_id: string;
  reason: string;
  duration_seconds: number;
  approvals_required: number;
  /** `pending`, `approved` or `rejected`; an approved grant has expired once expires_at is past. */
  status: string;
  created_at: string;
  decided_at: string | null;
  expires_at: string | null;
  /** When the `access.expired` audit event was written, so that it is written once. */
  expiry_recorded_at: string | null;
}

export interface AccessDecisionTable {
  request_id: string;
  approver_id: string;
  /** `approve` or `reject`. */
  decision: string;
  comment: string;
  decided_at: string;
}

/** The exclusive checkout of an account, until check-in or expires_at. */
export interface AccountCheckoutTable {
  account_id: string;
  user_id: string;
  request_id: string;
  checked_out_at: string;
  expires_at: string;
}

/**
 * A statement, written when the master key changed, that the checkpoints and rollovers up to the
 * vouched ids verified. Both the old and the new checkpoint key MAC it.
 */
export interface AuditKeyRolloverTable {
  id: Generated<number>;
  event_seq: number;
  head_hash: string;
  created_at: string;
  old_provider: string;
  old_key_id: string;
  old_algorithm: string;
  new_provider: string;
  new_key_id: string;
  new_algorithm: string;
  /** The last checkpoint id that the rollover vouches for, or 0 when it vouches for none. */
  vouched_checkpoint_id: number;
  /** The last earlier rollover id that the rollover vouches for, or 0 for none. */
  vouched_rollover_id: number;
  /** Lowercase hex SHA-256 over the vouched rows, as docs/audit.md defines it. */
  vouched_digest: string;
  /** The MACs in lowercase hex. */
  old_mac: string;
  new_mac: string;
}
