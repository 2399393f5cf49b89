import type { AuditEventRecord, AuditRepository } from '../store/repositories.js';

export const AUDIT_LIST_DEFAULT_LIMIT = 100;
export const AUDIT_LIST_MAX_LIMIT = 1000;

export interface AuditEventQuery {
  /** Returns only events with a sequence number greater than this one, for paging. */
  afterSeq?: number;
  limit?: number;
  /** Returns only events with exactly this action, such as `auth.login`. */
  action?: string;
}

/**
 * Lists audit events in ascending sequence order. The limit defaults to 100 and is capped at 1000;
 * to read the next page, pass the last sequence number as `afterSeq`.
 */
export async function listAuditEvents(
  repository: Pick<AuditRepository, 'listEvents'>,
  query: AuditEventQuery,
): Promise<AuditEventRecord[]> {
  const limit = Math.min(query.limit ?? AUDIT_LIST_DEFAULT_LIMIT, AUDIT_LIST_MAX_LIMIT);

  return repository.listEvents({
    limit,
    ...(query.afterSeq === undefined ? {} : { afterSeq: query.afterSeq }),
    ...(query.action === undefined ? {} : { action: query.action }),
  });
}
