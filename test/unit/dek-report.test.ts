import { describe, expect, it } from 'vitest';

import { formatRuns } from '../../src/cli/commands/dek-report.js';
import type { MigrationRunRecord } from '../../src/store/index.js';

function run(outcome: MigrationRunRecord['outcome']): MigrationRunRecord {
  return {
    id: 'run-1',
    command: 'migrate',
    startedAt: '2026-12-05T10:00:00.000Z',
    finishedAt: undefined,
    source: { provider: 'file', keyId: '0011223344556677', kcv: 'abcdef' },
    target: { provider: 'hsm', keyId: 'pam-master-key', kcv: '123456' },
    dryRun: false,
    outcome,
    host: 'vault1',
    pid: 4242,
    migrated: 1200,
    skipped: 0,
    unknown: 0,
    failed: 0,
  };
}

describe('run journal lines', () => {
  it('give abandoned counts as a lower bound', () => {
    expect(formatRuns([run('abandoned')])).toBe(
      '  2026-12-05T10:00:00.000Z  migrate file -> hsm  abandoned  migrated 1200, skipped 0, unknown 0, failed 0 as last saved; the run may have done more  (host vault1, pid 4242)\n',
    );
  });

  it('give running counts as a lower bound', () => {
    expect(formatRuns([run('running')])).toContain(
      'running  migrated 1200, skipped 0, unknown 0, failed 0 as last saved; the run may have done more',
    );
  });

  it('give completed counts as they are', () => {
    expect(formatRuns([run('completed')])).toBe(
      '  2026-12-05T10:00:00.000Z  migrate file -> hsm  completed  migrated 1200, skipped 0, unknown 0, failed 0  (host vault1, pid 4242)\n',
    );
  });
});
