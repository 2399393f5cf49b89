import type { AuditEventInput } from '../store/repositories.js';

/** An audit event as a service records it; the audit log stamps the time. */
export type AuditEventDraft = Omit<AuditEventInput, 'occurredAt'>;

/**
 * The audit trail. `record` resolves only once the event is stored and rejects with
 * SR_AUDIT_WRITE_FAILED otherwise, so the caller can refuse the action it records.
 */
export interface AuditLog {
  record(event: AuditEventDraft): Promise<void>;
}
