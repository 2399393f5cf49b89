import { execFileSync } from 'node:child_process';
import { setTimeout } from 'node:timers/promises';

/** PIDs of the HSM batch processes (process-entry.js) that the process `parent` started. */
export function batchProcessesOf(parent: number): number[] {
  let listing: string;
  try {
    listing = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(parent)], {
      encoding: 'utf8',
    });
  } catch {
    // ps exits with 1 when the process has no children.
    return [];
  }
  return listing
    .split('\n')
    .filter((line) => line.includes('process-entry.js'))
    .map((line) => Number.parseInt(line.trim(), 10));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to 10 s until none of the processes runs, and throws with the PIDs still running. */
export async function waitForExit(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) {
      throw new Error(`processes still running after 10 s: ${pids.filter(isAlive).join(', ')}`);
    }
    await setTimeout(50);
  }
}
