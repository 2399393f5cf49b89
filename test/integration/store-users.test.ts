import { beforeEach, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import type { ApiSessionRecord, Store, UserRecord } from '../../src/store/index.js';
import { describeEachDialect } from '../support/databases.js';

describeEachDialect('user repository', (context) => {
  let store: Store;

  beforeEach(async () => {
    store = await context.openStore();
  });

  it('finds a user by name and id', async () => {
    const alice = user('u-1', 'alice');

    await store.users.insertUser(alice);

    expect(await store.users.findUserByName('alice')).toEqual(alice);
    expect(await store.users.findUserById('u-1')).toEqual(alice);
  });

  it('missing user is undefined', async () => {
    await store.users.insertUser(user('u-1', 'alice'));

    expect(await store.users.findUserByName('bob')).toBeUndefined();
    expect(await store.users.findUserById('u-2')).toBeUndefined();
  });

  it('user names clash regardless of case', async () => {
    await store.users.insertUser(user('u-1', 'alice'));

    expect(await store.users.findUserByName('Alice')).toBeUndefined();
    await expect(store.users.insertUser(user('u-2', 'Alice'))).rejects.toMatchObject({
      code: 'SR_USER_EXISTS',
      details: { username: 'Alice', existing: 'alice' },
    });
  });

  it('disabled flag round-trips', async () => {
    await store.users.insertUser({ ...user('u-1', 'alice'), disabled: true });

    expect((await store.users.findUserById('u-1'))?.disabled).toBe(true);
  });

  it('duplicate user name is SR_USER_EXISTS', async () => {
    await store.users.insertUser(user('u-1', 'alice'));

    const error = await store.users
      .insertUser(user('u-2', 'alice'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_USER_EXISTS')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      "A user named 'alice' exists. Choose another user name.",
    );
    expect((error as StrongroomError).details).toEqual({ username: 'alice', existing: 'alice' });
    expect(await store.users.countUsers()).toBe(1);
  });

  it('duplicate user id is a conflict', async () => {
    await store.users.insertUser(user('u-1', 'alice'));

    const error = await store.users
      .insertUser(user('u-1', 'bob'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe("A user with the id 'u-1' exists.");
  });

  it('counts users', async () => {
    expect(await store.users.countUsers()).toBe(0);

    await store.users.insertUser(user('u-1', 'alice'));
    await store.users.insertUser(user('u-2', 'bob'));

    expect(await store.users.countUsers()).toBe(2);
  });

  it('finds and deletes a session', async () => {
    await store.users.insertUser(user('u-1', 'alice'));
    const record = session('hash-1', 'u-1', '2026-01-01T01:00:00.000Z');

    await store.users.insertSession(record);
    expect(await store.users.findSession('hash-1')).toEqual(record);

    await store.users.deleteSession('hash-1');
    expect(await store.users.findSession('hash-1')).toBeUndefined();
  });

  it('deleting a missing session is harmless', async () => {
    await expect(store.users.deleteSession('no-such-hash')).resolves.toBeUndefined();
  });

  it('session of a missing user is not found', async () => {
    const error = await store.users
      .insertSession(session('hash-1', 'u-404', '2026-01-01T01:00:00.000Z'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_NOT_FOUND')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      "No user has the id 'u-404', so no session was created.",
    );
  });

  it('duplicate session hash is a conflict', async () => {
    await store.users.insertUser(user('u-1', 'alice'));
    await store.users.insertSession(session('hash-1', 'u-1', '2026-01-01T01:00:00.000Z'));

    const error = await store.users
      .insertSession(session('hash-1', 'u-1', '2026-01-01T02:00:00.000Z'))
      .catch((caught: unknown) => caught);

    expect(isStrongroomError(error, 'SR_CONFLICT')).toBe(true);
    expect((error as StrongroomError).message).toBe('A session with the same token hash exists.');
  });

  it('deletes sessions expired at or before now', async () => {
    await store.users.insertUser(user('u-1', 'alice'));
    await store.users.insertSession(session('past', 'u-1', '2026-01-01T00:59:59.999Z'));
    await store.users.insertSession(session('now', 'u-1', '2026-01-01T01:00:00.000Z'));
    await store.users.insertSession(session('future', 'u-1', '2026-01-01T01:00:00.001Z'));

    const deleted = await store.users.deleteExpiredSessions('2026-01-01T01:00:00.000Z');

    expect(deleted).toBe(2);
    expect(await store.users.findSession('past')).toBeUndefined();
    expect(await store.users.findSession('now')).toBeUndefined();
    expect(await store.users.findSession('future')).toBeDefined();
  });
});

function user(id: string, username: string): UserRecord {
  return {
    id,
    username,
    passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',
    role: 'operator',
    disabled: false,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function session(tokenHash: string, userId: string, expiresAt: string): ApiSessionRecord {
  return {
    tokenHash,
    userId,
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt,
    clientAddress: '192.0.2.10',
    scope: 'full',
  };
}
