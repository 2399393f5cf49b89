import { hostname } from 'node:os';

import { describe, expect, it } from 'vitest';

import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { acquireMigrationLock } from '../../src/rotation/lock.js';
import type {
  DekMigrationRepository,
  MigrationLockAttempt,
  MigrationLockHolder,
  Store,
} from '../../src/store/index.js';
import { silentLogger } from '../support/databases.js';

/** A store whose migration repository reports `standby` and returns `attempts` in order. */
function stubStore(
  standby: boolean,
  attempts: MigrationLockAttempt[],
): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const dekMigrations: Partial<DekMigrationRepository> = {
    isReadOnlyStandby: () => {
      calls.push('isReadOnlyStandby');
      return Promise.resolve(standby);
    },
    tryLock: () => {
      calls.push('tryLock');
      const next = attempts.shift();
      if (next === undefined) {
        throw new Error('no more lock attempts in the stub');
      }
      return Promise.resolve(next);
    },
    breakLock: (holder: MigrationLockHolder) => {
      calls.push(`breakLock ${holder.pid}`);
      return Promise.resolve(true);
    },
  };
  return { store: { dekMigrations } as unknown as Store, calls };
}

const released = {
  acquired: true as const,
  check: () => Promise.resolve(),
  release: () => Promise.resolve(),
};

describe('migration lock', () => {
  it('standby is rejected before locking', async () => {
    const { store, calls } = stubStore(true, [released]);

    const error = await acquireMigrationLock(store, silentLogger()).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_DEK_MIGRATION_STANDBY')).toBe(true);
    expect((error as StrongroomError).message).toBe(
      'The database is a read-only PostgreSQL standby. Run the migration against the primary server.',
    );
    expect(calls).toEqual(['isReadOnlyStandby']);
  });

  it('holder on another host is kept', async () => {
    const holder = { host: 'vault-2.example.org', pid: 999_999, startedAt: '2026-03-01T10:00:00Z' };
    const { store, calls } = stubStore(false, [{ acquired: false, holder }]);

    const error = await acquireMigrationLock(store, silentLogger()).catch(
      (caught: unknown) => caught,
    );

    expect(isStrongroomError(error, 'SR_DEK_MIGRATION_LOCKED')).toBe(true);
    expect((error as StrongroomError).message).toContain(
      'process 999999 on vault-2.example.org, started at 2026-03-01T10:00:00Z',
    );
    expect(calls).toEqual(['isReadOnlyStandby', 'tryLock']);
  });

  it('unnamed holder is reported', async () => {
    const { store } = stubStore(false, [{ acquired: false, holder: undefined }]);

    const error = await acquireMigrationLock(store, silentLogger()).catch(
      (caught: unknown) => caught,
    );

    expect((error as StrongroomError).message).toBe(
      'Another DEK migration is running (another process). Wait for it to finish, or stop it, then run this command again.',
    );
  });

  it('ended local holder is broken', async () => {
    // Process ids are at most 2^22 on Linux, so this one cannot be running.
    const holder = { host: hostname(), pid: 2 ** 22 + 1, startedAt: '2026-03-01T10:00:00Z' };
    const { store, calls } = stubStore(false, [{ acquired: false, holder }, released]);

    const lock = await acquireMigrationLock(store, silentLogger());

    expect(typeof lock.release).toBe('function');
    expect(calls).toEqual(['isReadOnlyStandby', 'tryLock', `breakLock ${2 ** 22 + 1}`, 'tryLock']);
  });
});
