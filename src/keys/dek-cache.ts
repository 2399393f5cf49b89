/**
 * Opened DEKs kept in memory so that a read does not call the HSM each time. The cache is bounded
 * by entries and by age, and an evicted key buffer is zeroed. Map iteration order is
 * insertion order, so re-inserting on a hit makes the first entry the least recently used.
 */
export class DekCache {
  private readonly entries = new Map<string, { key: Buffer; storedAt: number }>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns a copy of the cached key, which the caller zeroes when done. */
  get(id: string): Buffer | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined || this.now() - entry.storedAt > this.maxAgeMs) {
      if (entry !== undefined) {
        this.evict(id);
      }
      this.misses += 1;
      return undefined;
    }

    this.entries.delete(id);
    this.entries.set(id, entry);
    this.hits += 1;
    return Buffer.from(entry.key);
  }

  /** Stores a copy of the key; the caller keeps ownership of the buffer it passed. */
  set(id: string, key: Buffer): void {
    if (this.maxEntries === 0 || this.maxAgeMs === 0) {
      return;
    }
    this.evict(id);
    this.entries.set(id, { key: Buffer.from(key), storedAt: this.now() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      this.evict(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const id of [...this.entries.keys()]) {
      this.evict(id);
    }
  }

  private evict(id: string): void {
    const entry = this.entries.get(id);
    if (entry !== undefined) {
      entry.key.fill(0);
      this.entries.delete(id);
    }
  }
}
