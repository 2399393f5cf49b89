import { randomUUID } from 'node:crypto';

import { expect, it } from 'vitest';

import { isStrongroomError } from '../../src/errors.js';
import { connect } from '../../src/store/connect.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { migrations } from '../../src/store/migrations/index.js';
import { parseDatabaseUrl } from '../../src/store/url.js';
import { describeEachDialect } from '../support/databases.js';

const NAMES_MIGRATION = '0007_case_insensitive_names';
const AT = '2026-02-03T04:05:06.000Z';

describeEachDialect('case-insensitive user and group names', (context) => {
  it('user name differing in case is rejected', async () => {
    const store = await context.openStore({ url: await context.createDatabase() });
    await store.users.insertUser(user('admin'));

    const error = await store.users.insertUser(user('ADMIN')).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_USER_EXISTS')).toBe(true);
    expect((error as Error).message).toContain("'admin'");
    expect((error as Error).message).toContain("'ADMIN'");
  });

  it('group name differing in case is rejected', async () => {
    const store = await context.openStore({ url: await context.createDatabase() });
    await store.groups.insertGroup(group('Operators'));

    const error = await store.groups.insertGroup(group('operators')).catch((caught) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as Error).message).toContain("The group 'Operators' exists");
  });

  it('index rejects a clash the check missed', async () => {
    const url = await context.createDatabase();
    await context.openStore({ url });
    await context.runSql(
      url,
      `insert into groups (id, name, description, created_at) values ('${randomUUID()}', 'dba', '', '${AT}')`,
    );

    await expect(
      context.runSql(
        url,
        `insert into groups (id, name, description, created_at) values ('${randomUUID()}', 'DBA', '', '${AT}')`,
      ),
    ).rejects.toThrow();
  });

  it('migration names clashing rows and stops', async () => {
    const url = await context.createDatabase();
    await migrateBefore(url);
    for (const username of ['admin', 'Admin', 'ADMIN', 'operator']) {
      await context.runSql(
        url,
        `insert into users (id, username, password_hash, role, created_at, disabled)
         values ('${randomUUID()}', '${username}', 'x', 'operator', '${AT}', 0)`,
      );
    }

    const error = await context.openStore({ url }).catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_DB_MIGRATION_FAILED')).toBe(true);
    expect((error as Error).message).toContain(NAMES_MIGRATION);
    expect((error as Error).message).toContain("'ADMIN' and 'Admin' and 'admin'");
    expect((error as Error).message).not.toContain("'operator'");
  });

  it('migration passes distinct names', async () => {
    const url = await context.createDatabase();
    await migrateBefore(url);
    await context.runSql(
      url,
      `insert into users (id, username, password_hash, role, created_at, disabled)
       values ('${randomUUID()}', 'admin', 'x', 'administrator', '${AT}', 0)`,
    );

    const store = await context.openStore({ url });

    expect((await store.users.listUsers()).map((entry) => entry.username)).toEqual(['admin']);
  });

  /** Runs every migration before 0007, so the database has the schema of the release before. */
  async function migrateBefore(url: string): Promise<void> {
    const index = migrations.findIndex((migration) => migration.name === NAMES_MIGRATION);
    const db = connect(parseDatabaseUrl(url, context.baseDir), {
      logger: context.logger,
      poolSize: 1,
    });
    try {
      await migrateToLatest(db, context.dialect, migrations.slice(0, index), context.logger);
    } finally {
      await db.destroy();
    }
  }
});

function user(username: string) {
  return {
    id: randomUUID(),
    username,
    passwordHash: 'x',
    role: 'operator',
    createdAt: AT,
    disabled: false,
  };
}

function group(name: string) {
  return { id: randomUUID(), name, description: '', createdAt: AT };
}
