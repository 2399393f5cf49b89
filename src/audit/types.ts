import type { AccessRepository, GroupRepository } from '../store/access-records.js';
import type { AuditEventInput, UserRepository, VaultRepository } from '../store/repositories.js';

/** An audit event as a service records it; the audit log stamps the time. */
export type AuditEventDraft = Omit<AuditEventInput, 'occurredAt'>;

/**
 * The audit trail. `record` resolves only once the event is stored and rejects with
 * SR_AUDIT_WRITE_FAILED otherwise, so the caller can refuse the action it records.
 */
export interface AuditLog {
  record(event: AuditEventDraft): Promise<void>;
  /**
   * Runs `work` in one database transaction whose repositories and audit log are in the scope, so
   * the change and its events commit together or not at all. Missing on a log over a store
   * without transactions: use runAudited, which falls back to the plain repositories then.
   */
  atomically?<T>(work: (scope: AuditedScope) => Promise<T>): Promise<T>;
}

/** The repositories of one transaction and an audit log that appends inside it. */
export interface AuditedScope {
  users: UserRepository;
  vault: VaultRepository;
  groups: GroupRepository;
  access: AccessRepository;
  audit: AuditLog;
}
