import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { dekAssociatedData } from '../crypto/associated-data.js';
import type { MasterKeyProvider } from '../keys/types.js';
import { connect } from '../store/connect.js';
import { parseDatabaseUrl } from '../store/url.js';

/** Rows per INSERT: 8 columns each, well below SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
const ROWS_PER_INSERT = 1_000;
/** Rows per transaction. */
const ROWS_PER_TRANSACTION = 20_000;

/**
 * Inserts `count` random DEKs wrapped by `provider` straight into the deks table of an already
 * migrated database. It opens its own Kysely instance on the database and uses multi-row INSERTs
 * inside transactions, where KeyRepository.insertDek would commit one row per statement. The
 * rows are the same as insertDek writes, so runDekMigration cannot tell them apart.
 */
export async function seedDeks(
  url: string,
  baseDir: string,
  provider: MasterKeyProvider,
  count: number,
  logger: Logger,
): Promise<void> {
  const db = connect(parseDatabaseUrl(url, baseDir), { logger, poolSize: 1 });
  const ref = provider.ref();
  const now = new Date().toISOString();

  try {
    for (let start = 0; start < count; start += ROWS_PER_TRANSACTION) {
      const end = Math.min(count, start + ROWS_PER_TRANSACTION);
      await db.transaction().execute(async (transaction) => {
        for (let first = start; first < end; first += ROWS_PER_INSERT) {
          const size = Math.min(ROWS_PER_INSERT, end - first);
          const rows = await Promise.all(
            Array.from({ length: size }, async () => {
              const id = randomUUID();
              const dek = randomBytes(32);
              const wrapped = await provider.wrap(dek, dekAssociatedData(id));
              dek.fill(0);
              return {
                id,
                provider: ref.provider,
                key_id: ref.keyId,
                kcv: ref.kcv,
                mechanism: wrapped.mechanism,
                wrapped: wrapped.wrapped,
                created_at: now,
                updated_at: now,
              };
            }),
          );
          await transaction.insertInto('deks').values(rows).execute();
        }
      });
    }
  } finally {
    await db.destroy();
  }
}
