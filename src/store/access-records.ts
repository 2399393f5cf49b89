import type { DekRecord, UserRecord } from './repositories.js';

/** The TOTP second factor of a user: the sealed secret and its state. */
export interface TotpRecord {
  dekId: string;
  /** 12-byte IV, ciphertext and 16-byte GCM tag of the base32 secret. */
  ciphertext: Buffer;
  /** Undefined while the enrolment waits for its first code. */
  confirmedAt: string | undefined;
  /** The time step of the last accepted code. */
  lastStep: number | undefined;
}

/** The failed-login counter and lock of a user. */
export interface LoginFailureState {
  count: number;
  windowStart: string | undefined;
  lockedUntil: string | undefined;
}

export interface GroupRecord {
  id: string;
  name: string;
  description: string;
  createdAt: string;
}

export interface TargetGrantRecord {
  targetId: string;
  groupId: string;
  createdAt: string;
}

export interface AccessPolicyRecord {
  targetId: string;
  approverGroupId: string;
  approvalsRequired: number;
  maxDurationSeconds: number;
  updatedAt: string;
}

export type AccessRequestKind = 'standard' | 'break-glass';
export type AccessRequestStatus = 'pending' | 'approved' | 'rejected' | 'cancelled';

export interface AccessRequestRecord {
  id: string;
  kind: AccessRequestKind;
  accountId: string;
  targetId: string;
  requesterId: string;
  reason: string;
  durationSeconds: number;
  approvalsRequired: number;
  status: AccessRequestStatus;
  createdAt: string;
  decidedAt: string | undefined;
  expiresAt: string | undefined;
  expiryRecordedAt: string | undefined;
}

export interface AccessDecisionRecord {
  requestId: string;
  approverId: string;
  decision: 'approve' | 'reject';
  comment: string;
  decidedAt: string;
}

export interface CheckoutRecord {
  accountId: string;
  userId: string;
  requestId: string;
  checkedOutAt: string;
  expiresAt: string;
}

/** Groups, their members, the grants of targets to groups and the access policy of each target. */
export interface GroupRepository {
  /** Throws SR_CONFLICT when the name is taken. */
  insertGroup(record: GroupRecord): Promise<void>;
  findGroup(id: string): Promise<GroupRecord | undefined>;
  listGroups(): Promise<GroupRecord[]>;
  /** Returns false when the user is a member already. Throws SR_NOT_FOUND for a missing user. */
  addMember(groupId: string, userId: string, addedAt: string): Promise<boolean>;
  /** Returns whether a membership was deleted. */
  removeMember(groupId: string, userId: string): Promise<boolean>;
  listMemberIds(groupId: string): Promise<string[]>;
  isMember(groupId: string, userId: string): Promise<boolean>;
  /** Returns false when the grant exists already. */
  insertGrant(record: TargetGrantRecord): Promise<boolean>;
  deleteGrant(targetId: string, groupId: string): Promise<boolean>;
  listGrants(targetId: string): Promise<TargetGrantRecord[]>;
  /** Tells whether the user is a member of a group that the target is granted to. */
  hasGrant(targetId: string, userId: string): Promise<boolean>;
  upsertPolicy(record: AccessPolicyRecord): Promise<void>;
  findPolicy(targetId: string): Promise<AccessPolicyRecord | undefined>;
}

/** Access requests, their decisions, exclusive checkouts and the rotation mark of accounts. */
export interface AccessRepository {
  insertRequest(record: AccessRequestRecord): Promise<void>;
  findRequest(id: string): Promise<AccessRequestRecord | undefined>;
  listRequests(filter: {
    requesterId?: string;
    targetIds?: string[];
  }): Promise<AccessRequestRecord[]>;
  /** Returns false when the approver has decided on the request already. */
  insertDecision(record: AccessDecisionRecord): Promise<boolean>;
  listDecisions(requestId: string): Promise<AccessDecisionRecord[]>;
  /**
   * Moves a pending request to `approved` or `rejected` in one conditional update. Returns false,
   * changing nothing, when the request is no longer pending.
   */
  decideRequest(
    id: string,
    outcome: { status: 'approved' | 'rejected'; decidedAt: string; expiresAt?: string },
  ): Promise<boolean>;
  /**
   * Takes back a decision whose audit event could not be written: deletes the decision row and,
   * when `reopen` is set, puts the request back to pending. Both happen in one transaction.
   */
  undoDecision(requestId: string, approverId: string, reopen: boolean): Promise<void>;
  /**
   * Moves a pending request of `requesterId` to `cancelled` in one conditional update. Returns
   * false, changing nothing, when it is no longer pending.
   */
  cancelRequest(id: string, requesterId: string, cancelledAt: string): Promise<boolean>;
  /** Deletes a request and its decisions, when the audit event of its creation failed. */
  deleteRequest(id: string): Promise<void>;
  /** The latest approved request of the user for the account that has not expired at `now`. */
  findActiveGrant(
    accountId: string,
    userId: string,
    now: string,
  ): Promise<AccessRequestRecord | undefined>;
  /** Approved requests that expired at or before `now` and whose expiry is not yet recorded. */
  listUnrecordedExpiries(now: string): Promise<AccessRequestRecord[]>;
  /** Sets or clears expiry_recorded_at; setting succeeds only while it is unset. */
  claimExpiry(id: string, recordedAt: string): Promise<boolean>;
  releaseExpiryClaim(id: string): Promise<void>;
  /** Returns false, writing nothing, when the account is checked out already. */
  insertCheckout(record: CheckoutRecord): Promise<boolean>;
  findCheckout(accountId: string): Promise<CheckoutRecord | undefined>;
  listExpiredCheckouts(now: string): Promise<CheckoutRecord[]>;
  /**
   * Deletes exactly this checkout (same user and expiry) and marks the account for rotation, in
   * one transaction. Returns false when the checkout was ended already.
   */
  endCheckout(record: CheckoutRecord): Promise<boolean>;
  /** Puts back a checkout that endCheckout removed, when its audit event could not be written. */
  restoreCheckout(record: CheckoutRecord): Promise<void>;
  /** Deletes a checkout that has just been inserted, when its audit event could not be written. */
  deleteCheckout(record: CheckoutRecord): Promise<void>;
}

/** The user-repository methods of the TOTP second factor and of login lockout. */
export interface UserSecurityRepository {
  /**
   * Stores a new unconfirmed TOTP secret with its DEK, in one transaction, replacing any earlier
   * unconfirmed secret and deleting its DEK.
   */
  setPendingTotp(userId: string, dek: DekRecord, ciphertext: Buffer): Promise<void>;
  /** Marks the pending secret confirmed; false when there is none or it was confirmed already. */
  confirmTotp(userId: string, confirmedAt: string, step: number): Promise<boolean>;
  /**
   * Records `step` as the last accepted time step, only when it is later than the stored one, in
   * one conditional update. Returns false for a code of a step that was already used.
   */
  claimTotpStep(userId: string, step: number): Promise<boolean>;
  /** Deletes the TOTP secret and its DEK, so that the next login enrols again. */
  resetTotp(userId: string): Promise<void>;
  /**
   * Counts one failed login. The count starts again at 1 when the current window began before
   * `windowStartsAfter`. Returns the count after the failure.
   */
  recordLoginFailure(userId: string, now: string, windowStartsAfter: string): Promise<number>;
  lockUser(userId: string, lockedUntil: string): Promise<void>;
  /** Clears the failed-login count and any lock. */
  clearLoginFailures(userId: string): Promise<void>;
  deleteSessionsOfUser(userId: string): Promise<void>;
  listUsers(): Promise<UserRecord[]>;
  setUserDisabled(userId: string, disabled: boolean): Promise<void>;
  setUserRole(userId: string, role: string): Promise<void>;
  /** Counts the users with the administrator role who are not disabled. */
  countActiveAdministrators(): Promise<number>;
}
