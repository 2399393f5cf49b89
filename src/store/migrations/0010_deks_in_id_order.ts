import { sql, type Kysely } from 'kysely';

import { constraints } from '../constraints.js';
import type { DialectName } from './index.js';

/** The columns of deks, in the order of the table. */
const COLUMNS = [
  'id',
  'provider',
  'key_id',
  'kcv',
  'mechanism',
  'wrapped',
  'created_at',
  'updated_at',
] as const;

/**
 * On SQLite, rebuilds deks as a WITHOUT ROWID table, so that its rows are stored in id order. The
 * DEK migration reads and writes pages of rows in id order. In a rowid table, ids are random UUIDs
 * and rows sit in insertion order, so each page scattered its writes over about one table page per
 * row. The rebuild follows SQLite's documented steps: copy into a new table, drop the old one,
 * rename, and create the index again. Foreign keys are off while migrations run (see migrate.ts).
 * PostgreSQL has no equivalent that stays ordered, so nothing changes there.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  if (dialect !== 'sqlite') {
    return;
  }
  const columns = sql.join(COLUMNS.map((column) => sql.ref(column)));
  await sql`
    create table deks_rebuilt (
      id text not null,
      provider text not null,
      key_id text not null,
      kcv text not null,
      mechanism text not null,
      wrapped blob not null,
      created_at text not null,
      updated_at text not null,
      constraint ${sql.ref(constraints.deksPrimaryKey.name)} primary key (id)
    ) without rowid`.execute(db);
  await sql`insert into deks_rebuilt (${columns}) select ${columns} from deks`.execute(db);
  await sql`drop table deks`.execute(db);
  await sql`alter table deks_rebuilt rename to deks`.execute(db);
  await db.schema
    .createIndex('deks_provider_key_id_kcv_id_idx')
    .on('deks')
    .columns(['provider', 'key_id', 'kcv', 'id'])
    .execute();
}
