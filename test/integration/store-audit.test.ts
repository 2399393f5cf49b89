import { beforeEach, expect, it } from 'vitest';

import type { AuditEventInput, Store } from '../../src/store/index.js';
import { describeEachDialect } from '../support/databases.js';

describeEachDialect('audit repository', (context) => {
  let store: Store;

  beforeEach(async () => {
    store = await context.openStore();
  });

  it('sequence numbers increase from 1', async () => {
    const first = await store.audit.appendEvent(event('user.login'));
    const second = await store.audit.appendEvent(event('secret.reveal'));
    const third = await store.audit.appendEvent(event('user.logout'));

    expect(first).toBe(1);
    expect(second).toBe(2);
    expect(third).toBe(3);
    expect(typeof first).toBe('number');
  });

  it('event round-trips with its details', async () => {
    const input: AuditEventInput = {
      ...event('secret.reveal'),
      outcome: 'failure',
      reason: 'ticket INC-4711: restore the replica',
      details: { accountId: 'a-1', attempt: 2, approved: false, note: 'quote " and backslash \\' },
    };

    const seq = await store.audit.appendEvent(input);

    expect(await store.audit.listEvents({ limit: 10 })).toEqual([{ ...input, seq }]);
  });

  it('lists events after a sequence number', async () => {
    for (const action of ['a.one', 'a.two', 'a.three', 'a.four']) {
      await store.audit.appendEvent(event(action));
    }

    const events = await store.audit.listEvents({ afterSeq: 2, limit: 10 });

    expect(events.map((record) => record.seq)).toEqual([3, 4]);
    expect(events.map((record) => record.action)).toEqual(['a.three', 'a.four']);
  });

  it('limit caps the events listed', async () => {
    for (let i = 0; i < 5; i++) {
      await store.audit.appendEvent(event('user.login'));
    }

    const page = await store.audit.listEvents({ limit: 2 });
    const next = await store.audit.listEvents({ afterSeq: page.at(-1)?.seq ?? 0, limit: 2 });

    expect(page.map((record) => record.seq)).toEqual([1, 2]);
    expect(next.map((record) => record.seq)).toEqual([3, 4]);
  });

  it('filters events by action', async () => {
    await store.audit.appendEvent(event('user.login'));
    await store.audit.appendEvent(event('secret.reveal'));
    await store.audit.appendEvent(event('user.login'));

    const logins = await store.audit.listEvents({ action: 'user.login', limit: 10 });

    expect(logins.map((record) => record.seq)).toEqual([1, 3]);
  });

  it('empty log lists nothing', async () => {
    expect(await store.audit.listEvents({ limit: 10 })).toEqual([]);
  });

  it.each([0, -1, 1.5, Number.NaN])('limit %s is rejected', async (limit) => {
    await expect(store.audit.listEvents({ limit })).rejects.toThrow(
      new RangeError(`limit must be a positive integer, got ${limit}`),
    );
  });

  it('fractional afterSeq is rejected', async () => {
    await expect(store.audit.listEvents({ afterSeq: 1.5, limit: 1 })).rejects.toThrow(
      new RangeError('afterSeq must be an integer, got 1.5'),
    );
  });

  it('closed store cannot append', async () => {
    await store.close();

    await expect(store.audit.appendEvent(event('user.login'))).rejects.toThrow();
  });
});

function event(action: string): AuditEventInput {
  return {
    occurredAt: '2026-04-01T08:30:00.000Z',
    actor: 'alice',
    action,
    objectType: 'account',
    objectId: 'a-1',
    outcome: 'success',
    reason: '',
    clientAddress: '198.51.100.7',
    details: {},
  };
}
