import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/keys/hsm/session-pool.js';

function pool(sessions: string[]): SessionPool<string> {
  const created = new SessionPool<string>();
  created.reset(sessions);
  return created;
}

describe('SessionPool', () => {
  it('lends each session to one borrower at a time', async () => {
    const sessions = pool(['a', 'b']);

    const first = await sessions.acquire();
    const second = await sessions.acquire();

    expect(new Set([first, second])).toEqual(new Set(['a', 'b']));
    expect(sessions.busy).toBe(2);
  });

  it('queues requests in order while every session is busy', async () => {
    const sessions = pool(['a']);
    const busySession = await sessions.acquire();
    const order: string[] = [];

    const waiting = [1, 2, 3].map((number) =>
      sessions.acquire().then((session) => {
        order.push(`${number}:${session}`);
        sessions.release(session);
      }),
    );
    expect(sessions.waiting).toBe(3);
    sessions.release(busySession);
    await Promise.all(waiting);

    expect(order).toEqual(['1:a', '2:a', '3:a']);
    expect(sessions.busy).toBe(0);
  });

  it('never runs more operations than sessions', async () => {
    const sessions = pool(['a', 'b', 'c', 'd']);
    let running = 0;
    let maxRunning = 0;

    await Promise.all(
      Array.from({ length: 40 }, () =>
        sessions.use(async () => {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          await new Promise((resolve) => setTimeout(resolve, 1));
          running -= 1;
        }),
      ),
    );

    expect(maxRunning).toBe(4);
  });

  it('serves waiters from new sessions after reset', async () => {
    const sessions = pool(['old']);
    const oldSession = await sessions.acquire();
    const waiting = sessions.acquire();

    sessions.reset(['new']);
    sessions.release(oldSession);

    expect(await waiting).toBe('new');
    expect(sessions.size).toBe(1);
  });

  it('fails waiting requests on rejectWaiting', async () => {
    const sessions = pool(['a']);
    await sessions.acquire();
    const waiting = sessions.acquire();

    sessions.rejectWaiting(new Error('token unreachable'));

    await expect(waiting).rejects.toThrow('token unreachable');
  });

  it('returns the session when the operation throws', async () => {
    const sessions = pool(['a']);

    await expect(sessions.use(async () => Promise.reject(new Error('failed')))).rejects.toThrow(
      'failed',
    );

    expect(sessions.busy).toBe(0);
  });

  it('waits for lent sessions from before a reset', async () => {
    const sessions = pool(['old-a', 'old-b']);
    const first = await sessions.acquire();
    const second = await sessions.acquire();
    sessions.reset(['new']);
    let returned: boolean | undefined;

    const waiting = sessions.whenReturned(60_000).then((result) => {
      returned = result;
    });
    sessions.release(first);
    await Promise.resolve();
    const afterFirst = returned;
    sessions.release(second);
    await waiting;

    expect(afterFirst).toBeUndefined();
    expect(returned).toBe(true);
    expect(sessions.lentOut).toBe(0);
  });

  it('reports lent sessions kept past the wait', async () => {
    const sessions = pool(['a', 'b']);
    await sessions.acquire();

    const returned = await sessions.whenReturned(1);

    expect(returned).toBe(false);
    expect(sessions.lentOut).toBe(1);
  });

  it('counts sessions handed to waiters as lent', async () => {
    const sessions = pool(['a']);
    const first = await sessions.acquire();
    const waiting = sessions.acquire();

    sessions.release(first);
    await waiting;

    expect(sessions.lentOut).toBe(1);
    expect(await sessions.whenReturned(1)).toBe(false);
  });
});
