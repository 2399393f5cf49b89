import { sql, type Kysely } from 'kysely';

import { constraints } from '../constraints.js';
import type { DialectName } from './index.js';

/** The tables whose names become unique regardless of case, with the column and the new index. */
const FOLDED_NAMES = [
  { table: 'users', column: 'username', index: constraints.usersUsernameFolded.name },
  { table: 'groups', column: 'name', index: constraints.groupsNameFolded.name },
] as const;

/**
 * Makes user names and group names unique regardless of case with a unique index on lower(name),
 * so that 'admin' and 'ADMIN' cannot both exist. Rows that already differ only in case stop the
 * migration with an error that names them, because choosing which one to rename is the
 * administrator's decision. SQLite's lower() folds ASCII letters only, PostgreSQL's folds by the
 * database locale, so group names with other letters may compare differently on the two.
 */
export async function up(db: Kysely<unknown>, _dialect: DialectName): Promise<void> {
  for (const { table, column } of FOLDED_NAMES) {
    await assertNoCaseClashes(db, table, column);
  }
  for (const { table, column, index } of FOLDED_NAMES) {
    await sql`create unique index ${sql.ref(index)} on ${sql.table(table)} (lower(${sql.ref(column)}))`.execute(
      db,
    );
  }
}

async function assertNoCaseClashes(db: Kysely<unknown>, table: string, column: string) {
  const name = sql.ref(column);
  const { rows } = await sql<{ name: string }>`
    select ${name} as name from ${sql.table(table)}
    where lower(${name}) in (
      select lower(${name}) from ${sql.table(table)} group by lower(${name}) having count(*) > 1
    )
    order by lower(${name}), ${name}
  `.execute(db);
  if (rows.length === 0) {
    return;
  }

  const clashes = new Map<string, string[]>();
  for (const row of rows) {
    const key = row.name.toLowerCase();
    clashes.set(key, [...(clashes.get(key) ?? []), `'${row.name}'`]);
  }
  const listed = [...clashes.values()].map((names) => names.join(' and ')).join('; ');
  throw new Error(
    `${table}.${column} has names that differ only in case: ${listed}. Rename all but one of each set with a database client, then start Strongroom again`,
  );
}
