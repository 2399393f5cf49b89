import type { Logger } from 'pino';

import { dekAssociatedData } from '../crypto/associated-data.js';
import type { MasterKeyProvider } from '../keys/types.js';
import type { KeyRepository } from '../store/repositories.js';
import { runPagePass } from './pipeline.js';

/** The outcome of the verify pass. */
export interface VerifyResult {
  verified: number;
  failed: number;
}

/**
 * Opens every DEK under the target key, one unwrapMany call per page with `depth` pages in flight,
 * and returns how many opened and how many failed. Each failure is logged with its DEK id.
 */
export async function verifyTargetDeks(
  target: MasterKeyProvider,
  keys: KeyRepository,
  options: {
    batchSize: number;
    depth: number;
    logger: Logger;
    onPage?: (result: VerifyResult) => void;
  },
): Promise<VerifyResult> {
  const ref = target.ref();
  const result: VerifyResult = { verified: 0, failed: 0 };

  await runPagePass({
    read: (after) => keys.listDeksUnder(ref, after, options.batchSize),
    prepare: async (records) => {
      const page: VerifyResult = { verified: 0, failed: 0 };
      const opened = await target
        .unwrapMany(records.map((record) => ({ key: record, aad: dekAssociatedData(record.id) })))
        .catch((error: unknown) =>
          records.map(() => ({
            ok: false as const,
            error: error instanceof Error ? error : new Error(String(error)),
          })),
        );
      opened.forEach((outcome, index) => {
        if (outcome.ok) {
          outcome.value.fill(0);
          page.verified += 1;
          return;
        }
        page.failed += 1;
        options.logger.error(
          { err: outcome.error, dekId: records[index]?.id },
          'target key failed to open a DEK',
        );
      });
      return page;
    },
    consume: async (page) => {
      result.verified += page.verified;
      result.failed += page.failed;
      options.onPage?.({ ...result });
    },
    depth: options.depth,
    stopped: () => false,
  });
  return result;
}
