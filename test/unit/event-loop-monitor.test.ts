import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { monitorEventLoop } from '../../src/observability/event-loop.js';
import { sampleValue } from '../support/metrics.js';

function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('event-loop monitor', () => {
  it('reports a block of the main thread', async () => {
    const registry = new Registry();
    const monitor = monitorEventLoop(registry);
    await pause(50);

    blockFor(150);
    await pause(50);
    const text = await registry.metrics();
    monitor.stop();

    expect(sampleValue(text, 'strongroom_event_loop_delay_samples')).toBeGreaterThan(0);
    expect(sampleValue(text, 'strongroom_event_loop_delay_max_seconds')).toBeGreaterThan(0.1);
  });

  it('starts a new window after each scrape', async () => {
    const registry = new Registry();
    const monitor = monitorEventLoop(registry);
    await pause(30);
    blockFor(120);
    await pause(30);
    const first = await registry.metrics();

    await pause(50);
    const second = await registry.metrics();
    monitor.stop();

    expect(sampleValue(first, 'strongroom_event_loop_delay_max_seconds')).toBeGreaterThan(0.1);
    expect(sampleValue(second, 'strongroom_event_loop_delay_max_seconds')).toBeLessThan(0.1);
  });
});
