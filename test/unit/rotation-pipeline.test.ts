import { describe, expect, it } from 'vitest';

import { runPagePass } from '../../src/rotation/pipeline.js';
import type { DekRecord } from '../../src/store/repositories.js';

/** Returns a page of one row whose id is the page number. The pass reads no other field. */
function page(index: number): DekRecord[] {
  return [{ id: String(index).padStart(4, '0') } as DekRecord];
}

describe('page pass', () => {
  it('writes the first ready page before reading on', async () => {
    const events: string[] = [];
    const pages = 5;

    await runPagePass<string>({
      read: async (after) => {
        await new Promise((resolve) => setImmediate(resolve));
        const index = after === undefined ? 1 : Number(after) + 1;
        events.push(`read ${index}`);
        return index > pages ? [] : page(index);
      },
      prepare: async (records) => records[0]?.id ?? '',
      consume: async (id) => {
        events.push(`consume ${Number(id)}`);
      },
      depth: 4,
      stopped: () => false,
    });

    expect(events.indexOf('consume 1')).toBeLessThan(events.indexOf('read 4'));
    expect(events.filter((event) => event.startsWith('consume'))).toEqual([
      'consume 1',
      'consume 2',
      'consume 3',
      'consume 4',
      'consume 5',
    ]);
    expect(events.filter((event) => event.startsWith('read'))).toHaveLength(pages + 1);
  });

  it('keeps depth pages in flight while none is ready', async () => {
    const started: Array<() => void> = [];
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    const pass = runPagePass<number>({
      read: async (after) => {
        const index = after === undefined ? 1 : Number(after) + 1;
        return index > 6 ? [] : page(index);
      },
      prepare: (records) =>
        new Promise<number>((resolve) => started.push(() => resolve(Number(records[0]?.id)))),
      consume: async () => undefined,
      depth: 3,
      stopped: () => false,
    });
    for (let turn = 0; turn < 20; turn += 1) {
      await tick();
    }
    const startedWhileNoneReady = started.length;

    let released = 0;
    for (let turn = 0; released < 6 && turn < 1_000; turn += 1) {
      while (released < started.length) {
        started[released]?.();
        released += 1;
      }
      await tick();
    }
    await pass;

    expect(startedWhileNoneReady).toBe(3);
    expect(released).toBe(6);
  });
});
