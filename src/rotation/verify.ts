import type { Logger } from 'pino';

import { dekAssociatedData } from '../crypto/associated-data.js';
import type { MasterKeyProvider } from '../keys/types.js';
import type { DekRecord, KeyRepository } from '../store/repositories.js';
import { runPagePass } from './pipeline.js';
import { settleBatch } from './rewrap.js';
import type { VerifiedRows } from './verified-rows.js';

/** The outcome of the verify pass. */
export interface VerifyResult {
  verified: number;
  failed: number;
}

/**
 * Checks every DEK under the target key, page by page with `depth` pages in flight, and returns
 * how many opened and how many failed. A row that this run wrote, still with the bytes that opened
 * under the target before the write (see VerifiedRows), counts as opened. Every other row is
 * opened on the target, one unwrapMany call per page. Each failure is logged with its DEK id.
 */
export async function verifyTargetDeks(
  target: MasterKeyProvider,
  keys: KeyRepository,
  options: {
    batchSize: number;
    depth: number;
    logger: Logger;
    verified: VerifiedRows;
    onPage?: (result: VerifyResult) => void;
  },
): Promise<VerifyResult> {
  const ref = target.ref();
  const result: VerifyResult = { verified: 0, failed: 0 };

  await runPagePass({
    read: (after) => keys.listDeksUnder(ref, after, options.batchSize),
    prepare: async (page) => {
      const records = page.filter((record) => !options.verified.matches(record));
      return addResults(
        { verified: page.length - records.length, failed: 0 },
        await openUnderTarget(target, records, options.logger),
      );
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

function addResults(left: VerifyResult, right: VerifyResult): VerifyResult {
  return { verified: left.verified + right.verified, failed: left.failed + right.failed };
}

/** Opens the DEKs on the target in one unwrapMany call, and logs each one that fails. */
async function openUnderTarget(
  target: MasterKeyProvider,
  records: readonly DekRecord[],
  logger: Logger,
): Promise<VerifyResult> {
  const page: VerifyResult = { verified: 0, failed: 0 };
  const opened = await settleBatch(
    () =>
      target.unwrapMany(
        records.map((record) => ({ key: record, aad: dekAssociatedData(record.id) })),
      ),
    records.length,
  );
  opened.forEach((outcome, index) => {
    if (outcome.ok) {
      outcome.value.fill(0);
      page.verified += 1;
      return;
    }
    page.failed += 1;
    logger.error(
      { err: outcome.error, dekId: records[index]?.id },
      'target key failed to open a DEK',
    );
  });
  return page;
}
