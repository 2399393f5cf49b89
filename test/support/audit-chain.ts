import { createAuditLog } from '../../src/audit/log.js';
import type { AuditEventDraft } from '../../src/audit/types.js';
import type { Logger } from 'pino';
import type { Store } from '../../src/store/repositories.js';

/** Builds an audit event draft for chain tests, with `index` in its details so each event differs. */
export function chainDraft(
  index: number,
  overrides: Partial<AuditEventDraft> = {},
): AuditEventDraft {
  return {
    actor: 'alice',
    action: 'secret.reveal',
    objectType: 'account',
    objectId: `account-${index}`,
    outcome: 'success',
    reason: `ticket ${index}`,
    clientAddress: '127.0.0.1',
    details: { index, note: 'quote " backslash \\ bracket ]' },
    ...overrides,
  };
}

/** Appends `count` events through the audit log, one after another, at a fixed clock. */
export async function appendEvents(store: Store, logger: Logger, count: number): Promise<void> {
  const audit = createAuditLog(store, logger, { now: () => new Date('2030-01-02T03:04:05.678Z') });
  for (let index = 1; index <= count; index += 1) {
    await audit.record(chainDraft(index));
  }
}
