import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/**
 * Sampling interval of the event-loop delay histogram in ms. Node.js schedules a timer at this
 * interval and records how late each one fires, so a block shorter than this can go unseen.
 */
const RESOLUTION_MS = 10;

const NS_PER_MS = 1e6;

/** A running event-loop delay monitor. */
export interface EventLoopMonitor {
  stop(): void;
}

/**
 * Registers the event-loop delay gauges and starts perf_hooks.monitorEventLoopDelay. Each scrape
 * reads the delays recorded since the previous scrape and then resets the histogram, so the
 * values describe the last scrape interval. Two scrapers would each see part of the interval.
 */
export function monitorEventLoop(registry: Registry): EventLoopMonitor {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();

  const statistics: Array<[string, string, (h: IntervalHistogram) => number]> = [
    ['max', 'maximum', (h) => h.max],
    ['mean', 'mean', (h) => h.mean],
    ['p50', 'median', (h) => h.percentile(50)],
    ['p99', '99th percentile of the', (h) => h.percentile(99)],
  ];
  for (const [suffix, description, read] of statistics) {
    new Gauge({
      name: `strongroom_event_loop_delay_${suffix}_seconds`,
      help: `The ${description} event-loop delay since the previous scrape, sampled every ${RESOLUTION_MS} ms by perf_hooks.monitorEventLoopDelay.`,
      registers: [registry],
      collect() {
        this.set(delaySeconds(histogram, read));
      },
    });
  }

  // Registered last, so that it runs after the gauges above have read the histogram.
  new Gauge({
    name: 'strongroom_event_loop_delay_samples',
    help: 'Event-loop delay samples taken since the previous scrape; the histogram restarts after each scrape.',
    registers: [registry],
    collect() {
      this.set(histogram.count);
      histogram.reset();
    },
  });

  return { stop: () => histogram.disable() };
}

/**
 * Converts a statistic of the histogram into the delay in seconds. On Node.js 20 the histogram
 * records the whole time between two samples, so an idle loop shows about RESOLUTION_MS, and the
 * delay is what exceeds it. With no sample the histogram reports NaN, which becomes 0.
 */
function delaySeconds(
  histogram: IntervalHistogram,
  read: (h: IntervalHistogram) => number,
): number {
  if (histogram.count === 0) {
    return 0;
  }
  const delayMs = read(histogram) / NS_PER_MS - RESOLUTION_MS;
  return Number.isFinite(delayMs) ? Math.max(0, delayMs) / 1000 : 0;
}
