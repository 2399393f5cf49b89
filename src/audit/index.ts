export { createAuditLog, type AuditLogOptions } from './log.js';
export {
  AUDIT_LIST_DEFAULT_LIMIT,
  AUDIT_LIST_MAX_LIMIT,
  listAuditEvents,
  type AuditEventQuery,
} from './query.js';
export type { AuditEventDraft, AuditedScope, AuditLog } from './types.js';
export { runAudited } from './atomic.js';
