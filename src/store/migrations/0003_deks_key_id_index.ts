import type { Kysely } from 'kysely';

import type { DialectName } from './index.js';

/**
 * Replaces the index on deks (provider, key_id) with one on (provider, key_id, kcv, id). Listing
 * the DEKs under one master key in id order, as the migration's verify pass and sweeps do page by
 * page, then walks the index from the last id of the previous page. With the old index SQLite
 * sorted every remaining row of the key on each page, so a pass took time quadratic in the number
 * of DEKs. The new index starts with the old one's columns, so it serves the counts per master key
 * too, and the old index would only cost writes.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  await db.schema
    .createIndex('deks_provider_key_id_kcv_id_idx')
    .on('deks')
    .columns(['provider', 'key_id', 'kcv', 'id'])
    .execute();
  await db.schema.dropIndex('deks_provider_key_id_idx').execute();
}
