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

/** Several timed runs of the same operation counted as one, with the rate of each for the page. */
export interface CombinedRun extends TimedRun {
  /** Returns the rate of each run as text, for example "runs of 19200/s and 18800/s". */
  describe(): string;
}

/** Adds up runs of the same operation, for example before and after other measurements. */
export function combineRuns(...runs: TimedRun[]): CombinedRun {
  const operations = runs.reduce((sum, run) => sum + run.operations, 0);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const rates = runs.map((run) => `${Math.round(run.perSecond)}/s`);
  return {
    operations,
    seconds,
    perSecond: operations / seconds,
    describe: () => `runs of ${rates.join(' and ')}`,
  };
}

function rate(operations: number, elapsedNs: bigint): TimedRun {
  const seconds = Number(elapsedNs) / 1e9;
  return { operations, seconds, perSecond: operations / seconds };
}
