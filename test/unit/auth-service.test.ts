import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';

import pino from 'pino';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { AuditEventDraft, AuditLog } from '../../src/audit/types.js';
import { hashPassword } from '../../src/auth/passwords.js';
import {
  createAuthService,
  type AuthService,
  type SessionRepository,
} from '../../src/auth/service.js';
import type { TotpSecretKeys } from '../../src/auth/totp-secrets.js';
import { StrongroomError } from '../../src/errors.js';
import type { ApiSessionRecord, UserRecord } from '../../src/store/repositories.js';

const PASSWORD = 'correct horse battery staple';
const START = new Date('2030-01-01T00:00:00.000Z');
const ALICE_ID = '3f0b0c32-6c1e-4d59-9b1a-7d4f1b2c3d4e';
const MALLORY_ID = '9a1f4c2e-1111-4c59-9b1a-7d4f1b2c3d4e';

/** Keeps users and sessions in memory. The server integration tests exercise the SQL repositories. */
function createMemoryRepository(
  users: UserRecord[],
): SessionRepository & { sessions: Map<string, ApiSessionRecord> } {
  const sessions = new Map<string, ApiSessionRecord>();
  return {
    sessions,
    findUserByName: async (username) => users.find((user) => user.username === username),
    findUserById: async (id) => users.find((user) => user.id === id),
    insertSession: async (record) => void sessions.set(record.tokenHash, record),
    findSession: async (tokenHash) => sessions.get(tokenHash),
    deleteSession: async (tokenHash) => void sessions.delete(tokenHash),
    claimTotpStep: async () => true,
    recordLoginFailure: async () => 1,
    lockUser: async () => undefined,
    clearLoginFailures: async () => undefined,
    deleteExpiredSessions: async (now) => {
      let deleted = 0;
      for (const [hash, session] of sessions) {
        if (session.expiresAt <= now) {
          sessions.delete(hash);
          deleted += 1;
        }
      }
      return deleted;
    },
  };
}

function createRecordingAudit(): AuditLog & { events: AuditEventDraft[]; failing: boolean } {
  const audit = {
    events: [] as AuditEventDraft[],
    failing: false,
    async record(event: AuditEventDraft) {
      if (audit.failing) {
        throw new StrongroomError('SR_AUDIT_WRITE_FAILED', 'The audit event could not be written.');
      }
      audit.events.push(event);
    },
  };
  return audit;
}

function createLogCapture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { lines, logger: pino({ level: 'trace' }, stream) };
}

/** No user here has enrolled TOTP, so the service never opens a secret. */
const UNUSED_TOTP_KEYS: TotpSecretKeys = {
  keyring: {
    newDek: () => Promise.reject(new Error('not used')),
    openDek: () => Promise.reject(new Error('not used')),
  },
  keys: { findDek: () => Promise.reject(new Error('not used')) },
};

let passwordHash: string;

beforeAll(async () => {
  passwordHash = await hashPassword(PASSWORD);
});

describe('auth service', () => {
  let clock: Date;
  let repository: ReturnType<typeof createMemoryRepository>;
  let audit: ReturnType<typeof createRecordingAudit>;
  let logs: ReturnType<typeof createLogCapture>;
  let service: AuthService;
  let alice: UserRecord;

  beforeEach(() => {
    clock = START;
    alice = {
      id: ALICE_ID,
      username: 'alice',
      passwordHash,
      // An auditor needs no TOTP, so the sessions here are full ones; the server tests cover TOTP.
      role: 'auditor',
      disabled: false,
      createdAt: START.toISOString(),
    };
    const mallory: UserRecord = { ...alice, id: MALLORY_ID, username: 'mallory', disabled: true };
    repository = createMemoryRepository([alice, mallory]);
    audit = createRecordingAudit();
    logs = createLogCapture();
    service = createAuthService({
      users: repository,
      audit,
      logger: logs.logger,
      totpKeys: UNUSED_TOTP_KEYS,
      sessionTtlSeconds: 3600,
      now: () => clock,
    });
  });

  const login = (username: string, password: string) =>
    service.login({ username, password, clientAddress: '127.0.0.1' });

  it('issues a 32-byte base64url token', async () => {
    const result = await login('alice', PASSWORD);

    expect(result.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(result.token, 'base64url')).toHaveLength(32);
    expect(result.expiresAt).toBe('2030-01-01T01:00:00.000Z');
    expect(result.user).toEqual({
      id: alice.id,
      username: 'alice',
      role: 'auditor',
      sessionExpiresAt: '2030-01-01T01:00:00.000Z',
      sessionScope: 'full',
    });
  });

  it('stores only the SHA-256 of the token', async () => {
    const { token } = await login('alice', PASSWORD);

    const expectedHash = createHash('sha256').update(token).digest('hex');
    expect([...repository.sessions.keys()]).toEqual([expectedHash]);
    expect(JSON.stringify([...repository.sessions.values()])).not.toContain(token);
    expect(repository.sessions.get(expectedHash)).toMatchObject({
      userId: alice.id,
      createdAt: START.toISOString(),
      expiresAt: '2030-01-01T01:00:00.000Z',
      clientAddress: '127.0.0.1',
    });
  });

  it('audits a successful login', async () => {
    await login('alice', PASSWORD);

    expect(audit.events).toEqual([
      {
        actor: 'alice',
        action: 'auth.login',
        objectType: 'user',
        objectId: alice.id,
        outcome: 'success',
        reason: '',
        clientAddress: '127.0.0.1',
        details: { role: 'auditor', expiresAt: '2030-01-01T01:00:00.000Z', scope: 'full' },
      },
    ]);
  });

  const failures = [
    {
      name: 'a wrong password',
      username: 'alice',
      password: 'wrong password, long',
      failure: 'wrong password',
      objectId: ALICE_ID,
    },
    {
      name: 'an unknown user',
      username: 'nobody',
      password: PASSWORD,
      failure: 'unknown user',
      objectId: '',
    },
    {
      name: 'a disabled user',
      username: 'mallory',
      password: PASSWORD,
      failure: 'user disabled',
      objectId: MALLORY_ID,
    },
  ];

  for (const { name, username, password, failure, objectId } of failures) {
    it(`rejects ${name} with SR_AUTH_FAILED`, async () => {
      const error = await login(username, password).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StrongroomError);
      expect((error as StrongroomError).code).toBe('SR_AUTH_FAILED');
      expect((error as StrongroomError).message).toBe(
        'The user name, password or TOTP code is wrong. Check them and log in again.',
      );
      expect(repository.sessions.size).toBe(0);
      expect(audit.events).toHaveLength(1);
      expect(audit.events[0]).toMatchObject({
        actor: username,
        action: 'auth.login',
        outcome: 'failure',
        objectId,
      });
      expect(audit.events[0]!.details).toEqual({ failure });
      expect(JSON.stringify(audit.events)).not.toContain(password);
    });
  }

  it('spends argon2 work on an unknown user', async () => {
    // The dummy hash is made on first use, so one login runs first and only verification is timed.
    await login('nobody', PASSWORD).catch(() => undefined);

    const knownStart = performance.now();
    await login('alice', 'wrong password, long').catch(() => undefined);
    const knownMs = performance.now() - knownStart;

    const unknownStart = performance.now();
    await login('nobody', 'wrong password, long').catch(() => undefined);
    const unknownMs = performance.now() - unknownStart;

    // A skipped argon2 verification would take well under a millisecond against about 100 ms.
    expect(unknownMs).toBeGreaterThan(knownMs * 0.25);
  });

  it('authenticates a token until it expires', async () => {
    const { token } = await login('alice', PASSWORD);

    clock = new Date(START.getTime() + 3599_000);
    await expect(service.authenticate(token)).resolves.toMatchObject({
      id: alice.id,
      role: 'auditor',
    });

    clock = new Date(START.getTime() + 3600_000);
    const error = await service.authenticate(token).catch((caught: unknown) => caught);
    expect((error as StrongroomError).code).toBe('SR_AUTH_REQUIRED');
    expect((error as StrongroomError).message).toBe(
      'The bearer token expired at 2030-01-01T01:00:00.000Z. Log in again to get a new token.',
    );
    expect(repository.sessions.size).toBe(0);
  });

  const badTokens = [
    { name: 'empty', token: '' },
    { name: 'too short', token: 'abc' },
    { name: 'not base64url', token: '+'.repeat(43) },
    { name: 'unknown', token: 'A'.repeat(43) },
  ];

  for (const { name, token } of badTokens) {
    it(`rejects a ${name} token with SR_AUTH_REQUIRED`, async () => {
      await expect(service.authenticate(token)).rejects.toMatchObject({ code: 'SR_AUTH_REQUIRED' });
    });
  }

  it('rejects the token of a user disabled later', async () => {
    const { token } = await login('alice', PASSWORD);

    alice.disabled = true;

    await expect(service.authenticate(token)).rejects.toMatchObject({ code: 'SR_AUTH_REQUIRED' });
  });

  it('ends the session on logout', async () => {
    const { token, user } = await login('alice', PASSWORD);

    await service.logout(token, user, '127.0.0.1');

    await expect(service.authenticate(token)).rejects.toMatchObject({ code: 'SR_AUTH_REQUIRED' });
    expect(audit.events.at(-1)).toMatchObject({
      actor: 'alice',
      action: 'auth.logout',
      outcome: 'success',
    });
  });

  it('rejects a login whose audit event fails', async () => {
    audit.failing = true;

    await expect(login('alice', PASSWORD)).rejects.toMatchObject({ code: 'SR_AUDIT_WRITE_FAILED' });
    expect(repository.sessions.size).toBe(0);
  });

  it('deletes expired sessions on login', async () => {
    await login('alice', PASSWORD);
    clock = new Date(START.getTime() + 7200_000);

    await login('alice', PASSWORD);

    expect(repository.sessions.size).toBe(1);
  });

  it('keeps password and token out of the log', async () => {
    const { token } = await login('alice', PASSWORD);
    await login('alice', 'wrong password, long').catch(() => undefined);

    const log = logs.lines.join('');
    expect(log).toContain('login succeeded');
    expect(log).toContain('login failed');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain('wrong password, long');
    expect(log).not.toContain(token);
  });

  for (const ttl of [0, -1, 1.5, Number.NaN]) {
    it(`rejects a session lifetime of ${ttl}`, () => {
      expect(() =>
        createAuthService({
          users: repository,
          audit,
          logger: logs.logger,
          totpKeys: UNUSED_TOTP_KEYS,
          sessionTtlSeconds: ttl,
        }),
      ).toThrow(expect.objectContaining({ code: 'SR_CONFIG_VALUE_INVALID' }));
    });
  }
});
