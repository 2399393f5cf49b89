import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openStore, type Store } from '../../src/store/index.js';
import { runCli } from '../support/cli.js';
import { silentLogger } from '../support/databases.js';

const PASSWORD = 'a password for the cli tests';

describe('user commands', () => {
  let home: string;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'strongroom-cli-user-'));
    const init = await runCli(['init', '--home', home, '--listen', '127.0.0.1:18443']);
    expect(init.code, init.stderr).toBe(0);
  });

  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  async function withStore<T>(body: (store: Store) => Promise<T>): Promise<T> {
    const store = await openStore('sqlite:data/strongroom.db', {
      baseDir: home,
      logger: silentLogger(),
    });
    try {
      return await body(store);
    } finally {
      await store.close();
    }
  }

  it('add prints the enrolment steps', async () => {
    const result = await runCli(
      ['user', 'add', '--home', home, '--username', 'olga', '--role', 'operator'],
      { input: `${PASSWORD}\n` },
    );

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("Created operator 'olga'.");
    expect(result.stdout).toContain("'olga' must enrol a TOTP second factor at the first login");
    expect(result.stdout).toContain('POST /api/v1/auth/totp/enrol');
    expect(result.stdout).not.toContain(PASSWORD);
  });

  it('add says an auditor needs no TOTP', async () => {
    const result = await runCli(
      ['user', 'add', '--home', home, '--username', 'audrey', '--role', 'auditor', '--json'],
      { input: `${PASSWORD}\n` },
    );

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      username: 'audrey',
      role: 'auditor',
      totpRequired: false,
    });
  });

  it('unlock clears a lock', async () => {
    const userId = await withStore(async (store) => {
      const user = await store.users.findUserByName('olga');
      await store.users.recordLoginFailure(
        user!.id,
        '2030-01-01T00:00:00.000Z',
        '2029-12-31T00:00:00.000Z',
      );
      await store.users.lockUser(user!.id, '2999-01-01T00:00:00.000Z');
      return user!.id;
    });

    const result = await runCli(['user', 'unlock', '--home', home, '--username', 'olga']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("Unlocked 'olga'.\n");
    await withStore(async (store) => {
      expect((await store.users.findUserById(userId))?.loginFailures).toBeUndefined();
      const events = await store.audit.listEvents({ action: 'user.unlock', limit: 10 });
      expect(events.at(-1)).toMatchObject({ objectId: userId, clientAddress: 'cli' });
      expect(events.at(-1)?.actor).toMatch(/^os:/);
    });
  });

  it('reset-totp makes the user enrol again', async () => {
    const result = await runCli([
      'user',
      'reset-totp',
      '--home',
      home,
      '--username',
      'olga',
      '--json',
    ]);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ username: 'olga', totp: 'none' });
    await withStore(async (store) => {
      const events = await store.audit.listEvents({ action: 'user.totp.reset', limit: 10 });
      expect(events).toHaveLength(1);
    });
  });

  it('disable and enable are audited', async () => {
    const disabled = await runCli(['user', 'disable', '--home', home, '--username', 'olga']);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toBe("Disabled 'olga'.\n");

    const enabled = await runCli([
      'user',
      'enable',
      '--home',
      home,
      '--username',
      'olga',
      '--json',
    ]);
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ username: 'olga', disabled: false });
    await withStore(async (store) => {
      expect(await store.audit.listEvents({ action: 'user.disable', limit: 10 })).toHaveLength(1);
      expect(await store.audit.listEvents({ action: 'user.enable', limit: 10 })).toHaveLength(1);
    });
  });

  it('set-role changes the role', async () => {
    const result = await runCli([
      'user',
      'set-role',
      '--home',
      home,
      '--username',
      'audrey',
      '--role',
      'approver',
    ]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("Gave the role approver to 'audrey'.\n");
    await withStore(async (store) => {
      expect((await store.users.findUserByName('audrey'))?.role).toBe('approver');
    });
  });

  it('last administrator stays', async () => {
    const added = await runCli(
      ['user', 'add', '--home', home, '--username', 'ada', '--role', 'administrator'],
      { input: `${PASSWORD}\n` },
    );
    expect(added.code, added.stderr).toBe(0);

    const result = await runCli(['user', 'disable', '--home', home, '--username', 'ada']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_LAST_ADMINISTRATOR');
    expect(result.stderr).toContain('User ada is the last active administrator');
  });

  it('unlock names an unknown user', async () => {
    const result = await runCli(['user', 'unlock', '--home', home, '--username', 'nobody']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SR_NOT_FOUND');
    expect(result.stderr).toContain("No user is named 'nobody'.");
  });
});
