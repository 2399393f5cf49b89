import { describe, expect, it } from 'vitest';
import { DekCache } from '../../src/keys/dek-cache.js';

describe('DEK cache', () => {
  it('returns copies and counts hits and misses', () => {
    const cache = new DekCache(10, 1000, () => 0);
    const key = Buffer.alloc(32, 1);
    cache.set('a', key);
    key.fill(9);

    const first = cache.get('a');
    expect(first).toEqual(Buffer.alloc(32, 1));
    first?.fill(0);
    expect(cache.get('a')).toEqual(Buffer.alloc(32, 1));
    expect(cache.get('b')).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([2, 1]);
  });

  it('evicts the least recently used entry and zeroes it', () => {
    const cache = new DekCache(2, 1000, () => 0);
    cache.set('a', Buffer.alloc(32, 1));
    cache.set('b', Buffer.alloc(32, 2));
    cache.get('a');
    cache.set('c', Buffer.alloc(32, 3));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.size).toBe(2);
  });

  it('expires entries by age', () => {
    let now = 0;
    const cache = new DekCache(10, 1000, () => now);
    cache.set('a', Buffer.alloc(32, 1));
    now = 1001;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('zeroes stored buffers on clear', () => {
    const cache = new DekCache(10, 1000, () => 0);
    cache.set('a', Buffer.alloc(32, 1));
    const internal = (cache as unknown as { entries: Map<string, { key: Buffer }> }).entries.get(
      'a',
    )?.key;
    cache.clear();
    expect(internal).toEqual(Buffer.alloc(32, 0));
  });

  it('stores nothing when disabled', () => {
    const cache = new DekCache(0, 1000);
    cache.set('a', Buffer.alloc(32, 1));
    expect(cache.size).toBe(0);
  });
});

describe('DEK cache eviction', () => {
  function storedBuffer(cache: DekCache, id: string): Buffer | undefined {
    return (cache as unknown as { entries: Map<string, { key: Buffer }> }).entries.get(id)?.key;
  }

  it('zeroes the least recently used buffer', () => {
    const cache = new DekCache(1, 1000, () => 0);
    cache.set('a', Buffer.alloc(32, 1));
    const evicted = storedBuffer(cache, 'a');

    cache.set('b', Buffer.alloc(32, 2));

    expect(evicted).toEqual(Buffer.alloc(32, 0));
    expect(storedBuffer(cache, 'b')).toEqual(Buffer.alloc(32, 2));
  });

  it('zeroes an expired buffer', () => {
    let now = 0;
    const cache = new DekCache(10, 1000, () => now);
    cache.set('a', Buffer.alloc(32, 1));
    const expired = storedBuffer(cache, 'a');

    now = 1001;
    cache.get('a');

    expect(expired).toEqual(Buffer.alloc(32, 0));
  });

  it('zeroes a replaced buffer', () => {
    const cache = new DekCache(10, 1000, () => 0);
    cache.set('a', Buffer.alloc(32, 1));
    const replaced = storedBuffer(cache, 'a');

    cache.set('a', Buffer.alloc(32, 3));

    expect(replaced).toEqual(Buffer.alloc(32, 0));
    expect(cache.get('a')).toEqual(Buffer.alloc(32, 3));
  });
});
