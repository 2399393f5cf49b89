import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import type { AuditRepository, Store } from '../store/repositories.js';
import type { CheckpointWriter } from './chain/checkpoints.js';
import type { AuditEventDraft, AuditLog, AuditedScope } from './types.js';

export interface AuditLogOptions {
  now?: () => Date;
  /** Writes checkpoints over the chain head as events are appended; none when missing. */
  checkpoints?: Pick<CheckpointWriter, 'noteAppended'>;
}

/**
 * Creates the audit log over the store. `record` stamps the event with the current time in ISO 8601
 * UTC and appends it to the hash chain, then lets the checkpoint writer decide whether a checkpoint
 * is due (a failed checkpoint is logged, never thrown). Any failure to write becomes
 * SR_AUDIT_WRITE_FAILED, logged at error with the action and the object ids, so that the caller
 * rejects the action it was recording. When the store can run transactions, `atomically` runs a
 * change and its events in one transaction.
 */
export function createAuditLog(
  store: { audit: Pick<AuditRepository, 'appendEvent'>; transact?: Store['transact'] },
  logger: Logger,
  options: AuditLogOptions = {},
): AuditLog {
  const now = options.now ?? (() => new Date());

  async function append(
    appendEvent: AuditRepository['appendEvent'],
    event: AuditEventDraft,
  ): Promise<number> {
    const occurredAt = now().toISOString();
    try {
      return await appendEvent({ ...event, occurredAt });
    } catch (error) {
      throw auditWriteFailed(logger, event, error);
    }
  }

  async function record(event: AuditEventDraft): Promise<void> {
    const seq = await append((input) => store.audit.appendEvent(input), event);
    await options.checkpoints?.noteAppended(seq);
  }

  const log: AuditLog = { record };
  const transact = store.transact?.bind(store);
  if (transact !== undefined) {
    log.atomically = async <T>(work: (scope: AuditedScope) => Promise<T>): Promise<T> => {
      let lastSeq: number | undefined;
      const result = await transact((scope) =>
        work({
          users: scope.users,
          vault: scope.vault,
          groups: scope.groups,
          access: scope.access,
          audit: {
            record: async (event) => {
              lastSeq = await append((input) => scope.appendEvent(input), event);
            },
          },
        }),
      );
      // Checkpoints cover committed events only, so the writer hears of them after the commit.
      if (lastSeq !== undefined) {
        await options.checkpoints?.noteAppended(lastSeq);
      }
      return result;
    };
  }
  return log;
}

function auditWriteFailed(logger: Logger, event: AuditEventDraft, error: unknown): StrongroomError {
  const ids = {
    action: event.action,
    objectType: event.objectType,
    objectId: event.objectId,
    actor: event.actor,
  };
  logger.error({ err: error, ...ids }, 'audit event could not be written');

  return new StrongroomError(
    'SR_AUDIT_WRITE_FAILED',
    `The audit event ${event.action} for ${event.objectType} ${event.objectId || '(none)'} could not be written, so the action was rejected. Check that the database is reachable and writable, then retry.`,
    {
      cause: error,
      details: { action: event.action, objectType: event.objectType, objectId: event.objectId },
    },
  );
}
