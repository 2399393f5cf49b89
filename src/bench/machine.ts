import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, type as osType } from 'node:os';

/** The machine a benchmark ran on, as shown in docs/benchmarks.md. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  os: string;
  node: string;
  /** One-minute load average when the run started. Other work on the machine lowers the rates. */
  loadAverage: number;
}

/**
 * Reads the CPU count (as `nproc` prints it), the CPU model from /proc/cpuinfo, the OS, the Node
 * version and the current load average.
 */
export function describeMachine(): MachineInfo {
  return {
    nproc: readNproc(),
    cpuModel: readCpuModel(),
    os: `${osType()} ${release()}`,
    node: process.version,
    loadAverage: loadavg()[0] ?? 0,
  };
}

function readNproc(): number {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    return availableParallelism();
  }
}

function readCpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('model name'));
    return line?.split(':').slice(1).join(':').trim() ?? 'unknown';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
}
