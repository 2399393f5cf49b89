import { describe, expect, it } from 'vitest';

import { incompleteRunError } from '../../src/rotation/index.js';
import type { MigrationSummary } from '../../src/rotation/index.js';

function summary(overrides: Partial<MigrationSummary>): MigrationSummary {
  return {
    runId: 'run-1',
    source: { provider: 'file', keyId: '9b1f0c3e5a7d2e48', kcv: 'a1b2c3' },
    target: { provider: 'hsm', keyId: 'pam-master-key', kcv: 'd4e5f6' },
    dryRun: false,
    outcome: 'failed',
    migrated: 10,
    skipped: 0,
    unknown: 0,
    failed: 2,
    verified: 10,
    verifyFailed: 1,
    sweeps: 1,
    remaining: 2,
    durationMs: 1000,
    rowsPerSecond: 12,
    ...overrides,
  };
}

describe('incomplete run error', () => {
  it('failed run names the counts', () => {
    const error = incompleteRunError(summary({}));

    expect(error.code).toBe('SR_DEK_MIGRATION_INCOMPLETE');
    expect(error.message).toBe(
      'The DEK migration run run-1 left 2 DEKs that failed to move and 1 DEKs under the target key that do not open. Moved DEKs stay moved. Check the log for the DEK ids and errors, then run the command again to resume.',
    );
    expect(error.details).toEqual({
      runId: 'run-1',
      outcome: 'failed',
      failed: 2,
      verifyFailed: 1,
    });
  });

  it('interrupted run names the progress', () => {
    const error = incompleteRunError(summary({ outcome: 'interrupted', failed: 0 }));

    expect(error.code).toBe('SR_DEK_MIGRATION_INCOMPLETE');
    expect(error.message).toMatch(
      /^The DEK migration run run-1 was interrupted after moving 10 DEKs\./,
    );
  });

  it('clean interrupted run skips the log hint', () => {
    const error = incompleteRunError(
      summary({ outcome: 'interrupted', failed: 0, verifyFailed: 0 }),
    );

    expect(error.message).toBe(
      'The DEK migration run run-1 was interrupted after moving 10 DEKs. Moved DEKs stay moved. Run the command again to resume.',
    );
  });
});
