import type { ChainedAuditEvent } from '../../store/repositories.js';

/**
 * Formats one event as a JSON line. `details` is the stored canonical JSON text, not an object, so
 * that a reader can recompute the event hash from the line exactly as docs/audit.md describes.
 */
export function formatJsonLine(event: ChainedAuditEvent): string {
  return JSON.stringify({
    seq: event.seq,
    occurredAt: event.occurredAt,
    actor: event.actor,
    action: event.action,
    objectType: event.objectType,
    objectId: event.objectId,
    outcome: event.outcome,
    reason: event.reason,
    clientAddress: event.clientAddress,
    details: event.detailsJson,
    prevHash: event.prevHash,
    hash: event.hash,
  });
}
