import type { Logger } from 'pino';

import { dekAssociatedData } from '../crypto/associated-data.js';
import type { MasterKeyProvider, MasterKeyRef } from '../keys/types.js';
import type { DekRecord, KeyRepository } from '../store/repositories.js';

/** The outcome of one DEK row. */
export type RowResult = 'migrated' | 'skipped' | 'unknown' | 'failed';

/**
 * Moves one DEK from the source key to the target key: unwraps it with the source, wraps it under
 * the target bound to its id, and writes it with a compare-and-swap on the source reference. A row
 * that another process changed meanwhile is skipped. A row under neither key is left untouched.
 * The plaintext DEK is zeroed before returning.
 */
export async function rewrapRow(
  record: DekRecord,
  context: {
    source: MasterKeyProvider;
    target: MasterKeyProvider;
    keys: KeyRepository;
    logger: Logger;
    dryRun: boolean;
  },
): Promise<RowResult> {
  const sourceRef = context.source.ref();
  if (sameKey(record.ref, context.target.ref())) {
    return 'skipped';
  }
  if (!sameKey(record.ref, sourceRef)) {
    return 'unknown';
  }

  const aad = dekAssociatedData(record.id);
  let dek: Buffer | undefined;
  try {
    dek = await context.source.unwrap(record, aad);
    const wrapped = await context.target.wrap(dek, aad);
    if (context.dryRun) {
      return 'migrated';
    }

    const swapped = await context.keys.rewrapDek(record.id, sourceRef, {
      ref: context.target.ref(),
      ...wrapped,
    });
    if (!swapped) {
      context.logger.info(
        { dekId: record.id },
        'DEK skipped because another process changed it during the migration',
      );
      return 'skipped';
    }
    return 'migrated';
  } catch (error) {
    context.logger.error({ err: error, dekId: record.id }, 'DEK could not be migrated');
    return 'failed';
  } finally {
    dek?.fill(0);
  }
}

export function sameKey(left: MasterKeyRef, right: MasterKeyRef): boolean {
  return left.provider === right.provider && left.keyId === right.keyId && left.kcv === right.kcv;
}
