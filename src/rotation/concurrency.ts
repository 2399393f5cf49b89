/**
 * Runs `task` on each item with at most `limit` tasks in flight, in item order. Stops taking new
 * items once `shouldStop` returns true, and waits for the tasks already started.
 */
export async function forEachConcurrent<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
  shouldStop: () => boolean,
): Promise<void> {
  let next = 0;

  async function worker(): Promise<void> {
    while (next < items.length && !shouldStop()) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  }

  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () =>
    worker(),
  );
  await Promise.all(workers);
}
