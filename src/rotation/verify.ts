import type { Logger } from 'pino';

import { dekAssociatedData } from '../crypto/associated-data.js';
import type { MasterKeyProvider } from '../keys/types.js';
import type { KeyRepository } from '../store/repositories.js';
import { forEachConcurrent } from './concurrency.js';

/** Opens every DEK under the target key and returns how many opened and how many failed. */
export async function verifyTargetDeks(
  target: MasterKeyProvider,
  keys: KeyRepository,
  options: { batchSize: number; concurrency: number; logger: Logger },
): Promise<{ verified: number; failed: number }> {
  const ref = target.ref();
  let verified = 0;
  let failed = 0;
  let after: string | undefined;

  for (;;) {
    const page = await keys.listDeksUnder(ref, after, options.batchSize);
    if (page.length === 0) {
      break;
    }

    await forEachConcurrent(
      page,
      options.concurrency,
      async (record) => {
        let dek: Buffer | undefined;
        try {
          dek = await target.unwrap(record, dekAssociatedData(record.id));
          verified += 1;
        } catch (error) {
          failed += 1;
          options.logger.error({ err: error, dekId: record.id }, 'target key failed to open a DEK');
        } finally {
          dek?.fill(0);
        }
      },
      () => false,
    );
    after = page.at(-1)?.id;
  }
  return { verified, failed };
}
