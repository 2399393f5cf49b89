import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The path of the constant route that service-process.js adds. */
export const CONSTANT_ROUTE = '/bench/constant';

const SERVICE_SCRIPT = fileURLToPath(new URL('./service-process.js', import.meta.url));
const HEALTH_POLL_MS = 5;
const START_TIMEOUT_MS = 120_000;

/** A benchmark service process and its start-up time until GET /health returned 200. */
export interface BenchService {
  pid: number;
  baseUrl: string;
  /** Seconds from spawn to the first 200 from GET /health. */
  startSeconds: number;
  stop(): Promise<void>;
}

/**
 * Starts dist/bench/service-process.js for `home` and polls GET /health every 5 ms until it
 * returns 200, so the start-up time includes Node.js start, module loading, the database,
 * the master key check and the first health probe.
 */
export async function startBenchService(home: string, port: number): Promise<BenchService> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [SERVICE_SCRIPT, home], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`the benchmark service exited with ${child.exitCode}: ${stderr}`);
    }
    const healthy = await fetch(`${baseUrl}/health`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (healthy) {
      return {
        pid: child.pid ?? 0,
        baseUrl,
        startSeconds: Number(process.hrtime.bigint() - started) / 1e9,
        stop: () => stopChild(child, exited),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
  await stopChild(child, exited);
  throw new Error(`the benchmark service was not healthy within ${START_TIMEOUT_MS} ms: ${stderr}`);
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
  }
  await exited;
}

/** Reads the resident set size (VmRSS) and its peak (VmHWM) of a process in bytes, on Linux. */
export function readMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Finds a free TCP port on 127.0.0.1. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
