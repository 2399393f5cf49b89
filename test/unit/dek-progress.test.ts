import { describe, expect, it } from 'vitest';

import { formatEta } from '../../src/cli/commands/dek-progress.js';

describe('progress ETA', () => {
  it.each([
    [0, 0, '0s'],
    [0, 500, '0s'],
    [100, 0, '?'],
    [1_000, 400, '3s'],
    [100_000, 1_000, '1m40s'],
  ])('%d DEKs left at %d/s is %s', (left, rate, expected) => {
    expect(formatEta(left, rate)).toBe(expected);
  });
});
