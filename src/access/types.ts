import type { Logger } from 'pino';

import type { AuditLog } from '../audit/types.js';
import type {
  AccessRepository,
  AccessRequestKind,
  GroupRepository,
  UserRepository,
  VaultRepository,
} from '../store/repositories.js';
import type { Actor, VaultService } from '../vault/types.js';

/** The stores, services and settings that the access workflow uses. */
export interface AccessDependencies {
  groups: GroupRepository;
  access: AccessRepository;
  users: Pick<UserRepository, 'findUserById'>;
  vault: Pick<VaultRepository, 'findTarget' | 'findAccount'>;
  secrets: Pick<VaultService, 'revealSecret'>;
  audit: AuditLog;
  logger: Logger;
  settings: AccessSettings;
  now: () => Date;
}

export interface AccessSettings {
  /** Maximum break-glass access period in seconds. */
  breakGlassMaxSeconds: number;
}

/** One hour: long enough to handle an outage, short enough that a forgotten grant ends soon. */
export const DEFAULT_ACCESS_SETTINGS: AccessSettings = { breakGlassMaxSeconds: 3600 };

/** Shortest access period in seconds that a request may ask for. */
export const MIN_ACCESS_SECONDS = 60;

/** Default longest access period of a target policy: 8 hours, one working day. */
export const DEFAULT_MAX_ACCESS_SECONDS = 8 * 3600;

/** Maximum access period a policy may allow: 7 days. */
export const MAX_POLICY_SECONDS = 7 * 24 * 3600;

export type { Actor };

export interface GroupView {
  id: string;
  name: string;
  description: string;
  createdAt: string;
  memberIds: string[];
}

export interface PolicyView {
  targetId: string;
  approverGroupId: string;
  approvalsRequired: number;
  maxDurationSeconds: number;
  updatedAt: string;
}

export interface DecisionView {
  approverId: string;
  decision: 'approve' | 'reject';
  comment: string;
  decidedAt: string;
}

/** A request as the API shows it; `expired` is computed from the time, never stored. */
export interface AccessRequestView {
  id: string;
  kind: AccessRequestKind;
  accountId: string;
  targetId: string;
  requesterId: string;
  reason: string;
  durationSeconds: number;
  approvalsRequired: number;
  status: 'pending' | 'approved' | 'rejected' | 'cancelled' | 'expired';
  createdAt: string;
  decidedAt?: string;
  expiresAt?: string;
  decisions: DecisionView[];
}

export interface NewAccessRequest {
  accountId: string;
  reason: string;
  durationSeconds: number;
}

export interface PolicyInput {
  approverGroupId: string;
  approvalsRequired?: number;
  maxDurationSeconds?: number;
}
