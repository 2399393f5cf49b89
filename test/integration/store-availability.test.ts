import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/store/availability.js';
import { freePort } from '../support/cli.js';
import { describeEachDialect } from '../support/databases.js';

describe('database availability', () => {
  it('classifies a refused connection as unavailable', async () => {
    const port = await freePort();
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'nobody', database: 'none' });
    const error = await client.connect().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeDefined();
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['57P01', true],
    ['08006', true],
    ['23505', false],
    ['42P01', false],
  ])('classifies SQLSTATE %s', (code, expected) => {
    expect(isDatabaseUnavailable(Object.assign(new Error('server message'), { code }))).toBe(
      expected,
    );
  });

  it('follows the cause chain', () => {
    const inner = Object.assign(new Error('connect'), { code: 'ECONNRESET' });
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: inner }))).toBe(true);
    expect(isDatabaseUnavailable('text')).toBe(false);
  });
});

describeEachDialect('query errors', (context) => {
  it('are not classified as unavailable', async () => {
    const url = await context.createDatabase();
    await context.openStore({ url });
    const error = await context.runSql(url, 'select * from no_such_table').then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeDefined();
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
