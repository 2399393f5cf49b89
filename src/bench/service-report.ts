import type { TimedRun } from './timing.js';
import type { BenchmarkReport, Measurement } from './types.js';

/** Everything the service benchmark measured in one run. */
export interface ServiceRuns {
  secrets: number;
  workingSet: number;
  concurrency: number;
  measureMs: number;
  warmupMs: number;
  /** Alternating rounds that the cached reveals of both services share. */
  rounds: number;
  seedSeconds: number;
  hsmStarts: number[];
  fileStarts: number[];
  hsmReveal: TimedRun;
  fileReveal: TimedRun;
  constant: TimedRun;
  wideReveal: TimedRun;
  /** Bytes. */
  idleRss: number;
  loadRss: number;
  peakRss: number;
}

const MIB = 1024 * 1024;

/** Builds the report of the service benchmark. */
export function buildServiceReport(runs: ServiceRuns): BenchmarkReport {
  const method = `HTTP/1.1 keep-alive over loopback, ${runs.concurrency} in flight`;
  const row = (label: string, run: TimedRun): Measurement => ({
    label,
    perSecond: run.perSecond,
    operations: run.operations,
    seconds: run.seconds,
    method,
  });
  const ratio = (a: TimedRun, b: TimedRun) => (a.perSecond / b.perSecond).toFixed(2);
  const hsmStart = median(runs.hsmStarts);
  const fileStart = median(runs.fileStarts);
  const secrets = runs.secrets.toLocaleString('en-US');

  return {
    title: 'Service: reveals over HTTP, memory and start-up',
    description: [
      'The service runs in a process of its own (dist/bench/service-process.js) on SQLite with log.level = warn, ' +
        'and the load comes from a Node.js HTTP client with keep-alive connections in the benchmark process, over ' +
        `loopback. The HSM home holds ${secrets} secrets, each with its own DEK wrapped on SoftHSM; the key file ` +
        `home holds ${runs.workingSet.toLocaleString('en-US')}. Seeding the HSM home through the vault service took ${runs.seedSeconds.toFixed(1)} s.`,
      `Cached reveals: POST /api/v1/accounts/{id}/reveal on random accounts of a working set of ${runs.workingSet.toLocaleString('en-US')}, ` +
        'each revealed once before the warm-up, so every DEK comes from the cache (default 10,000 entries, 300 s). ' +
        'Each reveal reads the account and its DEK row, decrypts, and writes an audit event. The constant route ' +
        'is POST /bench/constant on the same server, which returns a fixed body without authentication, database or key.',
      `Reveals over all secrets: random accounts out of the ${secrets}, so most DEKs are not cached and are unwrapped on SoftHSM. ` +
        'The resident set size (VmRSS of /proc/PID/status) is sampled every 200 ms during that load.',
      `Start-up: time from spawning the process to the first 200 from GET /health, polled every 5 ms, median of ${runs.hsmStarts.length} starts. ` +
        'It includes loading Node.js and the modules, the database, opening the master key with its canary check and the first health probe.',
      `Each throughput measurement runs for ${runs.measureMs / 1000} s after a ${runs.warmupMs / 1000} s warm-up. Both services run at once, ` +
        `and their cached reveals are measured in ${runs.rounds} alternating rounds that share that time, so that other load on the machine affects both alike.`,
    ],
    measurements: [
      row('reveal, HSM provider, cached DEKs', runs.hsmReveal),
      row('reveal, key file provider, cached DEKs', runs.fileReveal),
      row('constant route, same server', runs.constant),
      row(`reveal, HSM provider, over all ${secrets} secrets`, runs.wideReveal),
    ],
    summary: [
      `Ratio reveal HSM / key file, cached DEKs: ${ratio(runs.hsmReveal, runs.fileReveal)} (target: at least 0.95)`,
      `Ratio reveal HSM / constant route: ${ratio(runs.hsmReveal, runs.constant)}`,
      `Ratio reveal over all secrets / cached: ${ratio(runs.wideReveal, runs.hsmReveal)}`,
      `RSS of the HSM service with ${secrets} secrets: ${mib(runs.idleRss)} MiB idle after login, at most ${mib(runs.loadRss)} MiB sampled under load, peak (VmHWM) ${mib(runs.peakRss)} MiB; ratio under load / idle: ${(runs.loadRss / runs.idleRss).toFixed(2)}`,
      `Start-up to a healthy /health, median: HSM provider ${hsmStart.toFixed(2)} s, key file provider ${fileStart.toFixed(2)} s; ratio HSM / key file: ${(hsmStart / fileStart).toFixed(2)}`,
    ],
    environment: {},
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(0);
}
