import { StrongroomError } from '../errors.js';
import type { MigrationSummary } from './types.js';

/**
 * Creates the error that a command raises after a run that did not complete: interrupted, with
 * DEKs that failed, or with DEKs under the target key that the verify pass could not open.
 */
export function incompleteRunError(summary: MigrationSummary): StrongroomError {
  const reason =
    summary.outcome === 'interrupted'
      ? `was interrupted after moving ${summary.migrated} DEKs`
      : `left ${summary.failed} DEKs that failed to move and ${summary.verifyFailed} DEKs under the target key that do not open`;
  const next =
    summary.failed + summary.verifyFailed > 0
      ? 'Check the log for the DEK ids and errors, then run the command again to resume.'
      : 'Run the command again to resume.';
  return new StrongroomError(
    'SR_DEK_MIGRATION_INCOMPLETE',
    `The DEK migration run ${summary.runId} ${reason}. Moved DEKs stay moved. ${next}`,
    {
      details: {
        runId: summary.runId,
        outcome: summary.outcome,
        failed: summary.failed,
        verifyFailed: summary.verifyFailed,
      },
    },
  );
}
