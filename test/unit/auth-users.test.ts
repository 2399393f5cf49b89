import { describe, expect, it } from 'vitest';

import type { AuditEventDraft, AuditLog } from '../../src/audit/types.js';
import { verifyPassword } from '../../src/auth/passwords.js';
import { createUser, validateRole, validateUsername } from '../../src/auth/users.js';
import { StrongroomError } from '../../src/errors.js';
import type { UserRecord } from '../../src/store/repositories.js';

function thrownBy(run: () => unknown): StrongroomError {
  try {
    run();
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected a StrongroomError');
}

/** Records inserted users. The server integration tests exercise the real repository. */
function createRecordingUsers() {
  const inserted: UserRecord[] = [];
  return {
    inserted,
    users: { insertUser: async (record: UserRecord) => void inserted.push(record) },
  };
}

describe('user names', () => {
  for (const name of ['alice', 'a', 'svc.backup_01', 'jean-luc@example.org', 'A'.repeat(64)]) {
    it(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}... (${name.length})` : name)}`, () => {
      expect(() => validateUsername(name)).not.toThrow();
    });
  }

  const rejected = [
    { name: '', rule: 'username.minLength' },
    { name: 'a'.repeat(65), rule: 'username.maxLength' },
    { name: 'alice smith', rule: 'username.characters' },
    { name: 'andré', rule: 'username.characters' },
    { name: 'alice/bob', rule: 'username.characters' },
    { name: 'alice\nforged log line', rule: 'username.characters' },
    { name: "alice'; DROP TABLE users; --", rule: 'username.characters' },
  ];

  for (const { name, rule } of rejected) {
    it(`rejects ${JSON.stringify(name.slice(0, 24))} by ${rule}`, () => {
      const error = thrownBy(() => validateUsername(name));

      expect(error.code).toBe('SR_USER_INVALID');
      expect(error.details['rule']).toBe(rule);
    });
  }

  it('lists the allowed characters', () => {
    const error = thrownBy(() => validateUsername('alice smith'));

    expect(error.message).toContain('"alice smith"');
    expect(error.message).toContain("Use only letters A-Z and a-z, digits, '.', '_', '-' and '@'");
  });
});

describe('roles', () => {
  for (const role of ['administrator', 'auditor', 'operator', 'approver']) {
    it(`accepts ${role}`, () => {
      expect(() => validateRole(role)).not.toThrow();
    });
  }

  it('rejects an unknown role listing the valid ones', () => {
    const error = thrownBy(() => validateRole('root'));

    expect(error.code).toBe('SR_USER_INVALID');
    expect(error.message).toContain('"root"');
    expect(error.message).toContain('administrator, auditor, operator, approver');
  });
});

describe('createUser', () => {
  it('stores an argon2id hash, never the password', async () => {
    const { inserted, users } = createRecordingUsers();

    const view = await createUser(
      { users },
      { username: 'alice', password: 'a long passphrase', role: 'operator' },
    );

    expect(inserted).toHaveLength(1);
    const record = inserted[0]!;
    expect(record.id).toBe(view.id);
    expect(record.username).toBe('alice');
    expect(record.role).toBe('operator');
    expect(record.disabled).toBe(false);
    expect(record.passwordHash.startsWith('$argon2id$')).toBe(true);
    expect(JSON.stringify(record)).not.toContain('a long passphrase');
    expect(await verifyPassword(record.passwordHash, 'a long passphrase')).toBe(true);
  });

  it('returns a view without the hash', async () => {
    const { users } = createRecordingUsers();
    const now = () => new Date('2030-01-02T03:04:05.000Z');

    const view = await createUser(
      { users },
      { username: 'alice', password: 'a long passphrase', role: 'auditor' },
      { now },
    );

    expect(Object.keys(view).sort()).toEqual(['createdAt', 'id', 'role', 'username']);
    expect(view.createdAt).toBe('2030-01-02T03:04:05.000Z');
    expect(view.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('validates before storing anything', async () => {
    const { inserted, users } = createRecordingUsers();

    await expect(
      createUser(
        { users },
        { username: 'bad name', password: 'a long passphrase', role: 'operator' },
      ),
    ).rejects.toMatchObject({ code: 'SR_USER_INVALID' });
    await expect(
      createUser({ users }, { username: 'alice', password: 'short', role: 'operator' }),
    ).rejects.toMatchObject({ code: 'SR_USER_INVALID' });
    await expect(
      createUser({ users }, { username: 'alice', password: 'a long passphrase', role: 'root' }),
    ).rejects.toMatchObject({ code: 'SR_USER_INVALID' });
    expect(inserted).toHaveLength(0);
  });

  it('records user.create when given an audit log', async () => {
    const { users } = createRecordingUsers();
    const events: AuditEventDraft[] = [];
    const log: AuditLog = { record: async (event) => void events.push(event) };

    const view = await createUser(
      { users },
      { username: 'bob', password: 'a long passphrase', role: 'approver' },
      { audit: { log, actor: 'root@host', clientAddress: 'cli' } },
    );

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: 'root@host',
      action: 'user.create',
      objectType: 'user',
      objectId: view.id,
      outcome: 'success',
      details: { username: 'bob', role: 'approver' },
    });
    expect(JSON.stringify(events)).not.toContain('a long passphrase');
  });
});
