import { sql } from 'kysely';

import type { MasterKeyRef } from '../keys/types.js';
import type { RewrappedRow, Store } from './repositories.js';

/**
 * Rows per UPDATE of rewrapDeks on SQLite: 3 parameters each, far below its parameter limit.
 * PostgreSQL receives any number of rows in one UPDATE, as three arrays.
 */
export const ROWS_PER_REWRAP_STATEMENT = 500;

/**
 * Builds one UPDATE that moves several DEKs to `next`, each only while its row names `expected`.
 * The new bytes come from a list of rows (see movedRows) joined on the id. Both dialects run
 * UPDATE ... FROM with RETURNING (SQLite from 3.35).
 *
 * The statement must look each VALUES row up by its id. On SQLite, the unary + on the key columns
 * keeps those terms from using an index, which is SQLite's documented way to steer its planner.
 * Without it, SQLite reads every row still under `expected` once per statement, so a migration
 * takes time quadratic in the number of DEKs. PostgreSQL hashes every row under `expected` for
 * each statement unless the statement bounds the ids. A page is a run of ids in the database's
 * order, so the bounds are the smallest and largest id of the page, which PostgreSQL computes
 * itself with its own collation. Its index on the key columns and the id then finds the page's
 * rows, even when the planner's statistics predate most rows, so a run needs no ANALYZE first.
 */
export function rewrapStatement(
  dialect: Store['dialect'],
  expected: MasterKeyRef,
  next: MasterKeyRef,
  rows: readonly RewrappedRow[],
) {
  const noIndex = sql.raw(dialect === 'sqlite' ? '+' : '');
  const idRange =
    dialect === 'postgres'
      ? sql`and deks.id >= (select min(moved_id) from moved)
      and deks.id <= (select max(moved_id) from moved)`
      : sql``;
  return sql<{ id: string }>`
    with moved (moved_id, moved_mechanism, moved_wrapped) as (${movedRows(dialect, rows)})
    update deks
    set provider = ${next.provider}, key_id = ${next.keyId}, kcv = ${next.kcv},
      mechanism = moved.moved_mechanism, wrapped = moved.moved_wrapped,
      updated_at = ${new Date().toISOString()}
    from moved
    where deks.id = moved.moved_id
      and ${noIndex}deks.provider = ${expected.provider}
      and ${noIndex}deks.key_id = ${expected.keyId}
      and ${noIndex}deks.kcv = ${expected.kcv}
      ${idRange}
    returning deks.id as id`;
}

/**
 * Returns the rows to move as a query. PostgreSQL receives arrays and unnests them, which keeps the
 * statement text the same for every page and spares building and parsing three parameters per
 * row. The wrapped bytes travel as one binary parameter that the statement cuts by offset, because
 * a bytea[] parameter is hex text that the client writes and the server reads. SQLite has no
 * arrays, so it receives a VALUES list.
 */
function movedRows(dialect: Store['dialect'], rows: readonly RewrappedRow[]) {
  if (dialect === 'postgres') {
    const ids = rows.map((row) => row.id);
    const mechanisms = rows.map((row) => row.mechanism);
    const lengths = rows.map((row) => row.wrapped.length);
    // substring() counts from 1.
    const starts: number[] = [];
    let start = 1;
    for (const length of lengths) {
      starts.push(start);
      start += length;
    }
    const bytes = Buffer.concat(rows.map((row) => row.wrapped));
    return sql`select page.id, page.mechanism, substring(${bytes}::bytea from page.start for page.length)
      from unnest(${ids}::text[], ${mechanisms}::text[], ${starts}::int[], ${lengths}::int[])
        as page(id, mechanism, start, length)`;
  }
  return sql`values ${sql.join(
    rows.map((row) => sql`(${row.id}, ${row.mechanism}, cast(${row.wrapped} as blob))`),
  )}`;
}
