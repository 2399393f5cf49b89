import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import type { AuditRepository } from '../store/repositories.js';
import type { CheckpointWriter } from './chain/checkpoints.js';
import type { AuditEventDraft, AuditLog } from './types.js';

export interface AuditLogOptions {
  now?: () => Date;
  /** Writes checkpoints over the chain head as events are appended; none when missing. */
  checkpoints?: Pick<CheckpointWriter, 'noteAppended'>;
}

/**
 * Creates the audit log over the store. `record` stamps the event with the current time in ISO 8601
 * UTC and appends it to the hash chain, then lets the checkpoint writer decide whether a checkpoint
 * is due (a failed checkpoint is logged, never thrown). Any failure to write becomes SR_AUDIT_WRITE_FAILED, logged at error with the
 * action and the object ids, so that the caller rejects the action it was recording.
 */
export function createAuditLog(
  store: { audit: Pick<AuditRepository, 'appendEvent'> },
  logger: Logger,
  options: AuditLogOptions = {},
): AuditLog {
  const now = options.now ?? (() => new Date());

  async function record(event: AuditEventDraft): Promise<void> {
    const occurredAt = now().toISOString();

    let seq: number;
    try {
      seq = await store.audit.appendEvent({ ...event, occurredAt });
    } catch (error) {
      const ids = {
        action: event.action,
        objectType: event.objectType,
        objectId: event.objectId,
        actor: event.actor,
      };
      logger.error({ err: error, ...ids }, 'audit event could not be written');

      throw new StrongroomError(
        'SR_AUDIT_WRITE_FAILED',
        `The audit event ${event.action} for ${event.objectType} ${event.objectId || '(none)'} could not be written, so the action was rejected. Check that the database is reachable and writable, then retry.`,
        {
          cause: error,
          details: { action: event.action, objectType: event.objectType, objectId: event.objectId },
        },
      );
    }

    await options.checkpoints?.noteAppended(seq);
  }

  return { record };
}
