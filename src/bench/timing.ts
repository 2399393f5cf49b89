/** Iterations between clock reads in a synchronous loop, so that reading the clock costs little. */
const CHECK_EVERY = 32;

/** Result of a timed run. */
export interface TimedRun {
  operations: number;
  seconds: number;
  perSecond: number;
}

/** Calls `step` in a tight synchronous loop for about `durationMs` and returns the rate. */
export function runSynchronously(durationMs: number, step: () => void): TimedRun {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(durationMs) * 1_000_000n;
  let operations = 0;
  let now = start;

  while (now < deadline) {
    for (let index = 0; index < CHECK_EVERY; index++) {
      step();
    }
    operations += CHECK_EVERY;
    now = process.hrtime.bigint();
  }
  return rate(operations, now - start);
}

/**
 * Runs `concurrency` loops of `task` at once for about `durationMs` and returns the combined rate.
 * Each loop starts its next task when the previous one has finished.
 */
export async function runConcurrently(
  durationMs: number,
  concurrency: number,
  task: () => Promise<void>,
): Promise<TimedRun> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(durationMs) * 1_000_000n;
  let operations = 0;

  const loop = async (): Promise<void> => {
    while (process.hrtime.bigint() < deadline) {
      await task();
      operations += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return rate(operations, process.hrtime.bigint() - start);
}

function rate(operations: number, elapsedNs: bigint): TimedRun {
  const seconds = Number(elapsedNs) / 1e9;
  return { operations, seconds, perSecond: operations / seconds };
}
