import type { MasterKeyRef, WrapMechanism } from '../keys/types.js';
import type {
  AccessRepository,
  GroupRepository,
  LoginFailureState,
  TotpRecord,
  UserSecurityRepository,
} from './access-records.js';

export type * from './access-records.js';

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
  /** Undefined until the user starts to enrol a TOTP second factor. */
  totp?: TotpRecord | undefined;
  /** Undefined is the same as no failed login and no lock. */
  loginFailures?: LoginFailureState | undefined;
}

export interface ApiSessionRecord {
  tokenHash: string;
  userId: string;
  createdAt: string;
  expiresAt: string;
  clientAddress: string;
  /** `enrolment` allows only the TOTP enrolment routes; undefined is `full`. */
  scope?: SessionScope;
}

export type SessionScope = 'full' | 'enrolment';

export interface TargetRecord {
  id: string;
  name: string;
  address: string;
  description: string;
  createdAt: string;
}

/** An account with its current secret version: the version's type, DEK and ciphertext. */
export interface AccountRecord {
  id: string;
  targetId: string;
  username: string;
  description: string;
  dekId: string;
  secretCiphertext: Buffer;
  secretVersion: number;
  /** `password` or `ssh-private-key`; the vault validates it, the store keeps it as given. */
  secretType: string;
  createdAt: string;
  updatedAt: string;
  /** Set when a checkout of the account ended, until the secret is replaced; false when missing. */
  rotationRequired?: boolean;
}

/** The user who stored a secret version, and the reason they gave. */
export interface SecretVersionOrigin {
  createdBy: string;
  reason: string;
}

/** A secret version without its ciphertext, as listed. */
export interface SecretVersionMetadata extends SecretVersionOrigin {
  accountId: string;
  version: number;
  secretType: string;
  dekId: string;
  createdAt: string;
}

/** A secret version with its ciphertext, as stored. */
export interface SecretVersionRecord extends SecretVersionMetadata {
  secretCiphertext: Buffer;
}

/** An API token of an application. The token itself is never stored, only its SHA-256 hash. */
export interface ApiTokenRecord {
  id: string;
  name: string;
  tokenHash: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  /** CIDR blocks, IPv4 or IPv6, from which the token may be used. */
  allowedNetworks: string[];
  /** The accounts whose secrets the token may retrieve, sorted. */
  accountIds: string[];
  revokedAt: string | undefined;
  revokedBy: string | undefined;
}

/** The rows of one CSV import: new targets and new accounts, each account with its first DEK. */
export interface ImportBatch {
  targets: TargetRecord[];
  accounts: Array<{ account: AccountRecord; dek: DekRecord }>;
  origin: SecretVersionOrigin;
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

/** An audit event with the stored columns that its hash covers, for verification and export. */
export interface ChainedAuditEvent extends AuditEventRecord {
  /** The details column exactly as stored. */
  detailsJson: string;
  prevHash: string;
  hash: string;
}

/** The seq and hash of the last event of the chain; seq 0 and 64 zeros before the first event. */
export interface AuditChainHead {
  seq: number;
  hash: string;
}

export interface AuditCheckpointInput {
  eventSeq: number;
  headHash: string;
  createdAt: string;
  provider: string;
  keyId: string;
  algorithm: string;
  /** Lowercase hex. */
  mac: string;
}

export interface AuditCheckpointRecord extends AuditCheckpointInput {
  id: number;
}

/** A key rollover statement, with the columns of AuditKeyRolloverTable. */
export interface AuditKeyRolloverInput {
  eventSeq: number;
  headHash: string;
  createdAt: string;
  oldProvider: string;
  oldKeyId: string;
  oldAlgorithm: string;
  newProvider: string;
  newKeyId: string;
  newAlgorithm: string;
  vouchedCheckpointId: number;
  vouchedRolloverId: number;
  vouchedDigest: string;
  /** Lowercase hex. */
  oldMac: string;
  newMac: string;
}

export interface AuditKeyRolloverRecord extends AuditKeyRolloverInput {
  id: number;
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
  /**
   * Returns up to `limit` DEKs whose master key is not `ref`, in id order, starting after the id
   * `afterId` (from the start when undefined). Paging by the last id returned ends even while rows
   * change key, because each page starts strictly after the previous one.
   */
  listDeksNotUnder(
    ref: MasterKeyRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<DekRecord[]>;
  /** Returns up to `limit` DEKs wrapped by `ref`, in id order, starting after `afterId`. */
  listDeksUnder(
    ref: MasterKeyRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<DekRecord[]>;
  /**
   * Replaces the wrapped key of a DEK in one statement, only while the row is still wrapped by
   * `expected` (provider, key id and check value). Returns false, changing nothing, when the row is
   * missing or names another key, so each row is wholly under the old key or wholly under the new.
   */
  rewrapDek(id: string, expected: MasterKeyRef, next: RewrappedDek): Promise<boolean>;
  /**
   * Replaces the wrapped keys of several DEKs in one transaction, which on PostgreSQL is a single
   * UPDATE. Each row changes only while it is still wrapped by `expected`, as with rewrapDek, and
   * every row is then under `next`. Returns the ids of the rows that changed: a row missing from the
   * result was deleted or moved by another process and is left as it is. On SQLite the commit does
   * not wait for the disk (see the implementation): a power cut may undo the last pages, never part
   * of one.
   */
  rewrapDeks(
    expected: MasterKeyRef,
    next: MasterKeyRef,
    rows: readonly RewrappedRow[],
  ): Promise<Set<string>>;
}

/** A DEK id with its key wrapped under the new master key, for KeyRepository.rewrapDeks. */
export interface RewrappedRow {
  id: string;
  mechanism: WrapMechanism;
  wrapped: Buffer;
}

/** The new master key reference and wrapped bytes of a DEK. */
export interface RewrappedDek {
  ref: MasterKeyRef;
  mechanism: WrapMechanism;
  wrapped: Buffer;
}

/** The process that holds, or asks for, the database-wide DEK migration lock. */
export interface MigrationLockHolder {
  host: string;
  pid: number;
  startedAt: string;
}

/**
 * The outcome of asking for the migration lock: functions to check and release it, or the current
 * holder. check() throws when the lock is no longer held, for example because the PostgreSQL
 * session that held it was ended.
 */
export type MigrationLockAttempt =
  | { acquired: true; check(): Promise<void>; release(): Promise<void> }
  | { acquired: false; holder: MigrationLockHolder | undefined };

/** The state of a DEK migration run, as the journal records it. */
/**
 * The state of a migration run. 'abandoned' marks a run that ended without finishing, for example
 * killed, as the next run that takes the lock finds it.
 */
export type MigrationRunOutcome = 'running' | 'completed' | 'interrupted' | 'failed' | 'abandoned';

export interface MigrationCounts {
  migrated: number;
  skipped: number;
  unknown: number;
  failed: number;
}

/** One row of the DEK migration journal. */
export interface MigrationRunRecord extends MigrationCounts {
  id: string;
  command: 'migrate' | 'renew';
  startedAt: string;
  finishedAt: string | undefined;
  source: MasterKeyRef;
  target: MasterKeyRef;
  dryRun: boolean;
  outcome: MigrationRunOutcome;
  host: string;
  pid: number;
}

/** The journal of DEK migration runs and the lock that keeps two runs from overlapping. */
export interface DekMigrationRepository {
  /**
   * Takes the database-wide migration lock without waiting. On PostgreSQL it is a session advisory
   * lock on a connection held until release(), so a crashed process releases it with its
   * connection. On SQLite it is a row in dek_migration_lock, which a crashed process leaves behind
   * (see breakLock). Either way the holder is recorded so that a second run can name it.
   */
  tryLock(holder: MigrationLockHolder): Promise<MigrationLockAttempt>;
  /** Deletes the SQLite lock row of exactly this holder. Returns whether a row was deleted. */
  breakLock(holder: MigrationLockHolder): Promise<boolean>;
  /** Tells whether the database is a read-only PostgreSQL standby; SQLite never is. */
  isReadOnlyStandby(): Promise<boolean>;
  insertRun(run: MigrationRunRecord): Promise<void>;
  finishRun(
    id: string,
    result: MigrationCounts & { outcome: MigrationRunOutcome; finishedAt: string },
  ): Promise<void>;
  /** Stores the counts of a run that is still going, so that a killed run shows its progress. */
  updateRunCounts(id: string, counts: MigrationCounts): Promise<void>;
  /**
   * Marks every run still 'running' as 'abandoned', with `finishedAt`. Call it only while holding
   * the lock, because then no such run can be alive. Returns how many runs it marked.
   */
  abandonRunningRuns(finishedAt: string): Promise<number>;
  /** Returns the latest runs first. */
  listRuns(limit: number): Promise<MigrationRunRecord[]>;
}

export interface UserRepository extends UserSecurityRepository {
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
  insertAccountWithDek(
    account: AccountRecord,
    dek: DekRecord,
    origin?: SecretVersionOrigin,
  ): Promise<void>;
  /** Returns the account with its current secret version. */
  findAccount(id: string): Promise<AccountRecord | undefined>;
  listAccounts(targetId: string): Promise<AccountRecord[]>;
}

/** The version history of account secrets. Every version has a DEK of its own in `deks`. */
export interface SecretVersionRepository {
  /**
   * Inserts the DEK and the version, makes the version current and clears the account's
   * rotation-required flag (a new secret is the rotation that check-in asks for), in one
   * transaction, only while the account's current version is `version.version - 1`. Throws
   * SR_SECRET_VERSION_CONFLICT when another version was stored first, and SR_NOT_FOUND when the
   * account does not exist.
   */
  addVersion(version: SecretVersionRecord, dek: DekRecord): Promise<void>;
  /**
   * Deletes a version that addVersion stored and makes `previous` current again, with its
   * rotation-required flag, in one transaction, only while `version` is still current. Returns
   * whether it did.
   */
  removeLatestVersion(
    version: SecretVersionMetadata,
    previous: { version: number; dekId: string; updatedAt: string; rotationRequired: boolean },
  ): Promise<boolean>;
  /** Lists the versions of an account, newest first, without ciphertexts. */
  listVersions(accountId: string): Promise<SecretVersionMetadata[]>;
}

/** Writes the rows of a CSV import. */
export interface ImportRepository {
  /**
   * Inserts every target, DEK, account and first secret version of the batch in one transaction,
   * so that either all rows are stored or none. Throws SR_CONFLICT on a taken name.
   */
  insertBatch(batch: ImportBatch): Promise<void>;
  /** Deletes the rows of a batch that insertBatch stored, in one transaction. */
  deleteBatch(batch: ImportBatch): Promise<void>;
}

/** API tokens of applications and the accounts each may read. */
export interface ApiTokenRepository {
  /** Inserts the token and its account scope in one transaction. */
  insertToken(record: ApiTokenRecord): Promise<void>;
  findTokenByHash(tokenHash: string): Promise<ApiTokenRecord | undefined>;
  findToken(id: string): Promise<ApiTokenRecord | undefined>;
  /** Lists every token, the newest first. */
  listTokens(): Promise<ApiTokenRecord[]>;
  /** Marks a token revoked. Returns false, changing nothing, when it is missing or already revoked. */
  revokeToken(id: string, revokedAt: string, revokedBy: string): Promise<boolean>;
  /** Deletes a token and its scope; used only to undo a creation whose audit event failed. */
  deleteToken(id: string): Promise<void>;
}

export interface AuditRepository {
  /**
   * Appends one event to the hash chain and returns its sequence number. The chain head row is
   * locked for the transaction, so concurrent appends, also from other service nodes on the same
   * database, get consecutive numbers and each links to the one before. Throws when the row cannot
   * be written.
   */
  appendEvent(event: AuditEventInput): Promise<number>;
  listEvents(filter: {
    afterSeq?: number;
    limit: number;
    action?: string;
  }): Promise<AuditEventRecord[]>;
  /** Lists events after `afterSeq` with their hashes, oldest first; `since` keeps occurredAt >= it. */
  listChainedEvents(filter: {
    afterSeq: number;
    limit: number;
    since?: string;
  }): Promise<ChainedAuditEvent[]>;
  /** Reads the chain head row. Throws when the row is missing. */
  readChainHead(): Promise<AuditChainHead>;
  insertCheckpoint(checkpoint: AuditCheckpointInput): Promise<number>;
  /** Lists checkpoints after the id `afterId`, oldest first. */
  listCheckpoints(afterId: number, limit: number): Promise<AuditCheckpointRecord[]>;
  latestCheckpoint(): Promise<AuditCheckpointRecord | undefined>;
  insertRollover(rollover: AuditKeyRolloverInput): Promise<number>;
  /** Lists every key rollover, oldest first. Rollovers happen once per master key change. */
  listRollovers(): Promise<AuditKeyRolloverRecord[]>;
  /** Lists the distinct keys that checkpoints and rollovers name, as provider and key id. */
  listCheckpointKeyIds(): Promise<Array<{ provider: string; keyId: string }>>;
}

/** The whole store: one object per database, opened from a URL and closed once. */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly keys: KeyRepository;
  readonly users: UserRepository;
  readonly vault: VaultRepository;
  readonly secretVersions: SecretVersionRepository;
  readonly imports: ImportRepository;
  readonly apiTokens: ApiTokenRepository;
  readonly audit: AuditRepository;
  readonly groups: GroupRepository;
  readonly access: AccessRepository;
  readonly dekMigrations: DekMigrationRepository;
  /**
   * Runs `work` in one database transaction with repositories bound to it, and commits only when
   * `work` resolves. Events appended through the scope join the transaction, so a change and its
   * audit events commit together or not at all.
   */
  transact<T>(work: (scope: TransactionScope) => Promise<T>): Promise<T>;
  /** Runs a trivial query; throws SR_DB_UNREACHABLE when the database does not respond. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The repositories of one transaction, and the chained audit append inside it. */
export interface TransactionScope {
  readonly users: UserRepository;
  readonly vault: VaultRepository;
  readonly groups: GroupRepository;
  readonly access: AccessRepository;
  /** Appends an event to the hash chain in the transaction and returns its seq. */
  appendEvent(event: AuditEventInput): Promise<number>;
}
