import type { MasterKeyRef, WrapMechanism } from '../keys/types.js';

/** Row shapes that services see; the database layer maps columns to these and decides no policy. */
export interface DekRecord {
  id: string;
  ref: MasterKeyRef;
  mechanism: WrapMechanism;
  wrapped: Buffer;
}

export interface CanaryRecord {
  ref: MasterKeyRef;
  mechanism: WrapMechanism;
  canary: Buffer;
  createdAt: string;
}

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  role: string;
  disabled: boolean;
  createdAt: string;
}

export interface ApiSessionRecord {
  tokenHash: string;
  userId: string;
  createdAt: string;
  expiresAt: string;
  clientAddress: string;
}

export interface TargetRecord {
  id: string;
  name: string;
  address: string;
  description: string;
  createdAt: string;
}

export interface AccountRecord {
  id: string;
  targetId: string;
  username: string;
  description: string;
  dekId: string;
  secretCiphertext: Buffer;
  secretVersion: number;
  createdAt: string;
  updatedAt: string;
}

export interface AuditEventInput {
  occurredAt: string;
  actor: string;
  action: string;
  objectType: string;
  objectId: string;
  outcome: 'success' | 'failure';
  reason: string;
  clientAddress: string;
  details: Record<string, string | number | boolean>;
}

export interface AuditEventRecord extends AuditEventInput {
  seq: number;
}

/** Counts of DEK rows per master key, for the start-up check, /health and the doctor. */
export interface DekCount {
  ref: MasterKeyRef;
  count: number;
}

export interface KeyRepository {
  /** The canary of each master key, or undefined when the key has never been used. */
  findCanary(ref: Pick<MasterKeyRef, 'provider' | 'keyId'>): Promise<CanaryRecord | undefined>;
  listCanaries(): Promise<CanaryRecord[]>;
  /** Inserts a canary; does nothing if one exists for the same provider and key id. */
  insertCanary(record: CanaryRecord): Promise<void>;
  insertDek(record: DekRecord): Promise<void>;
  findDek(id: string): Promise<DekRecord | undefined>;
  countDeksByKey(): Promise<DekCount[]>;
}

export interface UserRepository {
  /** Throws SR_USER_EXISTS when the name is taken. */
  insertUser(record: UserRecord): Promise<void>;
  findUserByName(username: string): Promise<UserRecord | undefined>;
  findUserById(id: string): Promise<UserRecord | undefined>;
  countUsers(): Promise<number>;
  insertSession(record: ApiSessionRecord): Promise<void>;
  findSession(tokenHash: string): Promise<ApiSessionRecord | undefined>;
  deleteSession(tokenHash: string): Promise<void>;
  deleteExpiredSessions(now: string): Promise<number>;
}

export interface VaultRepository {
  /** Throws SR_CONFLICT when the name is taken. */
  insertTarget(record: TargetRecord): Promise<void>;
  findTarget(id: string): Promise<TargetRecord | undefined>;
  listTargets(): Promise<TargetRecord[]>;
  /**
   * Inserts the account and its DEK in one transaction, so that no account points at a missing DEK
   * and no DEK is left without its account. Throws SR_CONFLICT when the target has the user name.
   */
  insertAccountWithDek(account: AccountRecord, dek: DekRecord): Promise<void>;
  findAccount(id: string): Promise<AccountRecord | undefined>;
  listAccounts(targetId: string): Promise<AccountRecord[]>;
}

export interface AuditRepository {
  /** Appends one event and returns its sequence number. Throws when the row cannot be written. */
  appendEvent(event: AuditEventInput): Promise<number>;
  listEvents(filter: {
    afterSeq?: number;
    limit: number;
    action?: string;
  }): Promise<AuditEventRecord[]>;
}

/** The whole store: one object per database, opened from a URL and closed once. */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly keys: KeyRepository;
  readonly users: UserRepository;
  readonly vault: VaultRepository;
  readonly audit: AuditRepository;
  /** Runs a trivial query; throws SR_DB_UNREACHABLE when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
