import type { Logger } from 'pino';

import { dekAssociatedData } from '../crypto/associated-data.js';
import { sameKey } from '../keys/key-ref.js';
import type { BatchResult, MasterKeyProvider } from '../keys/types.js';
import type {
  DekRecord,
  KeyRepository,
  MigrationCounts,
  RewrappedRow,
} from '../store/repositories.js';
import type { VerifiedRows } from './verified-rows.js';

/** The providers, repository and settings that re-wrapping a page uses. */
export interface RewrapContext {
  source: MasterKeyProvider;
  target: MasterKeyProvider;
  keys: KeyRepository;
  logger: Logger;
  dryRun: boolean;
  /** The rows written by this run, each opened under the target before its write. */
  verified: VerifiedRows;
}

/** A DEK of the page, open in memory, with the associated data that binds it to its row. */
interface OpenedDek {
  record: DekRecord;
  dek: Buffer;
  aad: Buffer;
}

/** A page after the provider work: the rows to write, and the outcome of the other rows. */
export interface PreparedPage {
  rows: RewrappedRow[];
  counts: MigrationCounts;
  /** Rows under the source key that could not be unwrapped or wrapped. */
  failedIds: string[];
}

/**
 * Unwraps the page's rows under the source key, then wraps them under the target, which opens each
 * new wrapping again in the same call (WrapManyOptions.reopen). So only a row whose new wrapping
 * opens to the same DEK is written, and the HSM needs one round trip per page. Rows under the
 * target are skipped, and rows under neither key are left untouched and counted as unknown. The
 * plaintext DEKs are zeroed before returning. Never rejects: when a provider fails as a whole,
 * every row it was given counts as failed.
 */
export async function preparePage(
  records: readonly DekRecord[],
  context: RewrapContext,
): Promise<PreparedPage> {
  const sourceRef = context.source.ref();
  const targetRef = context.target.ref();
  const prepared: PreparedPage = {
    rows: [],
    counts: { migrated: 0, skipped: 0, unknown: 0, failed: 0 },
    failedIds: [],
  };
  const moving: DekRecord[] = [];
  for (const record of records) {
    if (sameKey(record.ref, targetRef)) {
      prepared.counts.skipped += 1;
    } else if (!sameKey(record.ref, sourceRef)) {
      prepared.counts.unknown += 1;
    } else {
      moving.push(record);
    }
  }

  const fail = (record: DekRecord, error: unknown): void => {
    context.logger.error({ err: error, dekId: record.id }, 'DEK could not be migrated');
    prepared.counts.failed += 1;
    prepared.failedIds.push(record.id);
  };
  const opened: OpenedDek[] = [];
  try {
    const aads = moving.map((record) => dekAssociatedData(record.id));
    const unwrapped = await settleBatch(
      () =>
        context.source.unwrapMany(
          moving.map((record, index) => ({ key: record, aad: aads[index] as Buffer })),
        ),
      moving.length,
    );
    unwrapped.forEach((result, index) => {
      const record = moving[index] as DekRecord;
      if (result.ok) {
        opened.push({ record, dek: result.value, aad: aads[index] as Buffer });
      } else {
        fail(record, result.error);
      }
    });

    const wrapped = await settleBatch(
      () =>
        context.target.wrapMany(
          opened.map(({ dek, aad }) => ({ dek, aad })),
          { reopen: true },
        ),
      opened.length,
    );
    wrapped.forEach((result, index) => {
      const { record } = opened[index] as OpenedDek;
      if (result.ok) {
        prepared.rows.push({ id: record.id, ...result.value });
      } else {
        fail(record, result.error);
      }
    });
  } finally {
    for (const { dek } of opened) {
      dek.fill(0);
    }
  }
  return prepared;
}

/**
 * Writes a prepared page in one transaction, each row with a compare-and-swap on the source
 * reference, and returns the page's final counts. A row that another process changed meanwhile is
 * skipped. A dry run writes nothing and counts the rows as migrated.
 */
export async function writePage(
  prepared: PreparedPage,
  context: RewrapContext,
): Promise<MigrationCounts> {
  const counts = { ...prepared.counts };
  if (context.dryRun) {
    counts.migrated += prepared.rows.length;
    return counts;
  }

  const changed = await context.keys.rewrapDeks(
    context.source.ref(),
    context.target.ref(),
    prepared.rows,
  );
  counts.migrated += changed.size;
  const untouched: string[] = [];
  for (const row of prepared.rows) {
    if (changed.has(row.id)) {
      context.verified.add(row.id, row.mechanism, row.wrapped);
    } else {
      untouched.push(row.id);
    }
  }
  if (untouched.length > 0) {
    counts.skipped += untouched.length;
    context.logger.info(
      { dekIds: untouched },
      'DEKs skipped because another process changed them during the migration',
    );
  }
  return counts;
}

/** Runs a batch call and, when it fails as a whole, gives each of its items that error. */
export async function settleBatch<T>(
  call: () => Promise<Array<BatchResult<T>>>,
  size: number,
): Promise<Array<BatchResult<T>>> {
  if (size === 0) {
    return [];
  }
  try {
    return await call();
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    return Array.from({ length: size }, () => ({ ok: false as const, error: failure }));
  }
}
