import { Writable } from 'node:stream';

import pino, { type Logger } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/log.js';
import { listAuditEvents } from '../../src/audit/query.js';
import type { AuditEventDraft } from '../../src/audit/types.js';
import { StrongroomError } from '../../src/errors.js';
import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';

function draft(overrides: Partial<AuditEventDraft> = {}): AuditEventDraft {
  return {
    actor: 'alice',
    action: 'secret.reveal',
    objectType: 'account',
    objectId: '0d4f7c1e-5b3a-4e8f-9a21-6c7d8e9f0a1b',
    outcome: 'success',
    reason: 'incident 4711',
    clientAddress: '127.0.0.1',
    details: { secretVersion: 1 },
    ...overrides,
  };
}

function createLogCapture(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describeEachDialect('audit log', (database) => {
  let store: Store;

  beforeAll(async () => {
    store = await database.openStore();
  });

  it('stamps the time in ISO UTC and appends', async () => {
    const audit = createAuditLog(store, database.logger, {
      now: () => new Date('2031-02-03T04:05:06.789Z'),
    });

    await audit.record(draft({ action: 'stamp.check' }));

    const [event] = await store.audit.listEvents({ action: 'stamp.check', limit: 10 });
    expect(event).toMatchObject({
      ...draft({ action: 'stamp.check' }),
      occurredAt: '2031-02-03T04:05:06.789Z',
    });
    expect(event!.seq).toBeGreaterThan(0);
  });

  it('stamps the current time by default', async () => {
    const before = Date.now();

    await createAuditLog(store, database.logger).record(draft({ action: 'clock.check' }));

    const [event] = await store.audit.listEvents({ action: 'clock.check', limit: 10 });
    expect(event!.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(event!.occurredAt)).toBeGreaterThanOrEqual(before);
  });

  it('turns a write failure into SR_AUDIT_WRITE_FAILED', async () => {
    const { lines, logger } = createLogCapture();
    const failing = {
      audit: { appendEvent: () => Promise.reject(new Error('database is locked')) },
    };
    const audit = createAuditLog(failing, logger);

    const error = await audit.record(draft()).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StrongroomError);
    expect((error as StrongroomError).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect((error as StrongroomError).message).toContain(
      'secret.reveal for account 0d4f7c1e-5b3a-4e8f-9a21-6c7d8e9f0a1b',
    );
    expect((error as StrongroomError).message).toContain('so the action was rejected');
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: 50,
      msg: 'audit event could not be written',
      action: 'secret.reveal',
      objectType: 'account',
      objectId: '0d4f7c1e-5b3a-4e8f-9a21-6c7d8e9f0a1b',
      err: expect.objectContaining({ message: 'database is locked' }),
    });
  });

  describe('listing', () => {
    beforeAll(async () => {
      const audit = createAuditLog(store, database.logger);
      for (let index = 0; index < 5; index += 1) {
        await audit.record(draft({ action: 'list.check', details: { index } }));
      }
    });

    it('pages with afterSeq and limit', async () => {
      const first = await listAuditEvents(store.audit, { action: 'list.check', limit: 2 });
      const second = await listAuditEvents(store.audit, {
        action: 'list.check',
        limit: 2,
        afterSeq: first[1]!.seq,
      });

      expect(first.map((event) => event.details['index'])).toEqual([0, 1]);
      expect(second.map((event) => event.details['index'])).toEqual([2, 3]);
    });

    it('caps the limit at 1000', async () => {
      let requested = 0;
      const repository = {
        listEvents: async (filter: { limit: number }) => {
          requested = filter.limit;
          return [];
        },
      };

      await listAuditEvents(repository, { limit: 50_000 });
      expect(requested).toBe(1000);
      await listAuditEvents(repository, {});
      expect(requested).toBe(100);
    });

    it('treats a quoted action as data', async () => {
      const events = await listAuditEvents(store.audit, { action: "list.check' OR '1'='1" });

      expect(events).toEqual([]);
    });
  });
});
