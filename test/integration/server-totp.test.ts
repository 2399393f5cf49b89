import { afterAll, beforeAll, expect, it } from 'vitest';

import { generateTotpCode } from '../../src/auth/totp.js';
import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import { enrolTotp, loginWithTotp, type ApiCall, type TotpDevice } from '../support/people.js';
import {
  createTestKeyFile,
  createUsers,
  passwordFor,
  startTestNode,
  type TestClock,
  type TestKeyFile,
  type TestNode,
} from '../support/service.js';

const START = new Date('2031-03-01T10:00:00.000Z');
const LOCKOUT = { maxFailures: 3, windowSeconds: 600, lockSeconds: 900 };

describeEachDialect('TOTP and lockout', (database) => {
  let store: Store;
  let keyFile: TestKeyFile;
  let node: TestNode;
  let call: ApiCall;
  let ids: Record<string, string>;
  const clock: TestClock = { now: START };
  let adminToken: string;
  let adminDevice: TotpDevice;

  const login = (username: string, totpCode?: string) =>
    call('POST', '/api/v1/auth/login', {
      body: { username, password: passwordFor(username), ...(totpCode ? { totpCode } : {}) },
    });

  /** Moves the clock to a fresh 30-second step, far from every step used before. */
  const advance = (minutes: number) => {
    clock.now = new Date(clock.now.getTime() + minutes * 60_000);
  };

  const lastLoginEvent = async () =>
    (await store.audit.listEvents({ action: 'auth.login', limit: 1000 })).at(-1);

  beforeAll(async () => {
    store = await database.openStore();
    keyFile = await createTestKeyFile();
    node = await startTestNode({
      store,
      keyFile,
      logger: database.logger,
      clock,
      lockout: LOCKOUT,
    });
    call = node.call;
    ids = await createUsers(store, {
      admin: 'administrator',
      olga: 'operator',
      otto: 'operator',
      lena: 'operator',
      rita: 'operator',
      audrey: 'auditor',
    });
    adminDevice = await enrolTotp(call, 'admin', passwordFor('admin'), clock.now);
    adminToken = await loginWithTotp(call, 'admin', passwordFor('admin'), adminDevice);
  });

  afterAll(async () => {
    await node?.close();
    await keyFile?.remove();
  });

  it('limits a first login to enrolment', async () => {
    const first = await login('olga');
    expect(first.status).toBe(200);
    expect(first.json.scope).toBe('enrolment');
    const token = first.json.token as string;

    const targets = await call('GET', '/api/v1/targets', { token });
    expect(targets.status).toBe(403);
    expect(targets.json.error.code).toBe('SR_TOTP_ENROLMENT_REQUIRED');
    const me = await call('GET', '/api/v1/me', { token });
    expect(me.json.sessionScope).toBe('enrolment');
  });

  it('enrols with a confirmed code', async () => {
    const token = (await login('otto')).json.token as string;

    const enrol = await call('POST', '/api/v1/auth/totp/enrol', { token });
    expect(enrol.status).toBe(200);
    const secret = enrol.json.secret as string;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enrol.json.otpauthUri).toBe(
      `otpauth://totp/Strongroom:otto?issuer=Strongroom&secret=${secret}&algorithm=SHA1&digits=6&period=30`,
    );

    const wrong = await call('POST', '/api/v1/auth/totp/confirm', {
      token,
      body: { code: generateTotpCode(secret, new Date(clock.now.getTime() - 600_000)) },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.code).toBe('SR_TOTP_CODE_INVALID');

    const confirm = await call('POST', '/api/v1/auth/totp/confirm', {
      token,
      body: { code: generateTotpCode(secret, clock.now) },
    });
    expect(confirm.status).toBe(204);
    expect((await call('GET', '/api/v1/me', { token })).status).toBe(401);

    const withoutCode = await login('otto');
    expect(withoutCode.status).toBe(401);
    expect(withoutCode.json.error.code).toBe('SR_TOTP_REQUIRED');

    const events = await store.audit.listEvents({ action: 'auth.totp.enrol', limit: 100 });
    const otto = events.filter((event) => event.objectId === ids['otto']);
    expect(otto.map((event) => [event.outcome, event.details['stage']])).toEqual([
      ['success', 'started'],
      ['failure', 'confirm'],
      ['success', 'confirmed'],
    ]);
    expect(JSON.stringify(events)).not.toContain(secret);
  });

  it('stores the secret sealed', async () => {
    const token = (await login('lena')).json.token as string;
    const secret = (await call('POST', '/api/v1/auth/totp/enrol', { token })).json.secret as string;

    const user = await store.users.findUserById(ids['lena']!);
    expect(user?.totp).toBeDefined();
    expect(user!.totp!.ciphertext.length).toBe(12 + secret.length + 16);
    expect(user!.totp!.ciphertext.toString('latin1')).not.toContain(secret);
    expect(await store.keys.findDek(user!.totp!.dekId)).toBeDefined();
  });

  it('rejects enrolling twice', async () => {
    const response = await call('POST', '/api/v1/auth/totp/enrol', { token: adminToken });

    expect(response.status).toBe(409);
    expect(response.json.error.code).toBe('SR_TOTP_ALREADY_ENROLLED');
  });

  it('accepts a code once only', async () => {
    advance(10);
    const code = generateTotpCode(adminDevice.secret, clock.now);

    const first = await login('admin', code);
    const replay = await login('admin', code);

    expect(first.status).toBe(200);
    expect(replay.status).toBe(401);
    expect(replay.json.error.code).toBe('SR_AUTH_FAILED');
    expect(await lastLoginEvent()).toMatchObject({
      actor: 'admin',
      outcome: 'failure',
      details: { failure: 'totp code reused' },
    });
  });

  it('rejects an earlier code after a later one', async () => {
    advance(10);
    const later = generateTotpCode(adminDevice.secret, new Date(clock.now.getTime() + 30_000));
    const current = generateTotpCode(adminDevice.secret, clock.now);

    expect((await login('admin', later)).status).toBe(200);
    expect((await login('admin', current)).status).toBe(401);
  });

  it('rejects a wrong code', async () => {
    advance(10);
    const wrong = generateTotpCode(adminDevice.secret, new Date(clock.now.getTime() + 3_600_000));

    const response = await login('admin', wrong);

    expect(response.status).toBe(401);
    expect(response.json.error.code).toBe('SR_AUTH_FAILED');
    expect(await lastLoginEvent()).toMatchObject({ details: { failure: 'wrong totp code' } });
  });

  const skewCases: Array<{ offsetSeconds: number; accepted: boolean }> = [
    { offsetSeconds: -60, accepted: false },
    { offsetSeconds: -30, accepted: true },
    { offsetSeconds: 30, accepted: true },
    { offsetSeconds: 60, accepted: false },
  ];
  for (const { offsetSeconds, accepted } of skewCases) {
    it(`${accepted ? 'accepts' : 'rejects'} a code ${offsetSeconds} s off`, async () => {
      advance(10);
      const at = new Date(clock.now.getTime() + offsetSeconds * 1000);

      const response = await login('admin', generateTotpCode(adminDevice.secret, at));

      expect(response.status).toBe(accepted ? 200 : 401);
    });
  }

  it('locks after repeated failures until unlocked', async () => {
    const wrongLogin = () =>
      call('POST', '/api/v1/auth/login', {
        body: { username: 'audrey', password: 'not the password of audrey' },
      });
    for (let attempt = 1; attempt <= LOCKOUT.maxFailures; attempt += 1) {
      expect((await wrongLogin()).status).toBe(401);
    }

    const locked = await login('audrey');
    expect(locked.status).toBe(401);
    expect(locked.json.error.code).toBe('SR_USER_LOCKED');
    expect(locked.json.error.message).toContain("'strongroom user unlock'");
    const lockouts = await store.audit.listEvents({ action: 'auth.lockout', limit: 10 });
    expect(lockouts.at(-1)).toMatchObject({
      actor: 'audrey',
      objectId: ids['audrey'],
      details: { failures: 3 },
    });

    const unlock = await call('POST', `/api/v1/users/${ids['audrey']}/unlock`, {
      token: adminToken,
    });
    expect(unlock.status).toBe(200);
    expect(unlock.json.lockedUntil).toBeUndefined();
    expect((await login('audrey')).status).toBe(200);
    const unlocks = await store.audit.listEvents({ action: 'user.unlock', limit: 10 });
    expect(unlocks.at(-1)).toMatchObject({ actor: 'admin', objectId: ids['audrey'] });
  });

  it('ends a lock after its duration', async () => {
    for (let attempt = 1; attempt <= LOCKOUT.maxFailures; attempt += 1) {
      await call('POST', '/api/v1/auth/login', {
        body: { username: 'audrey', password: 'still not the password' },
      });
    }
    expect((await login('audrey')).json.error?.code).toBe('SR_USER_LOCKED');

    advance(LOCKOUT.lockSeconds / 60 + 1);

    expect((await login('audrey')).status).toBe(200);
  });

  it('counts failures only within the window', async () => {
    for (let attempt = 1; attempt < LOCKOUT.maxFailures; attempt += 1) {
      await call('POST', '/api/v1/auth/login', {
        body: { username: 'audrey', password: 'wrong once more' },
      });
    }
    advance(LOCKOUT.windowSeconds / 60 + 1);
    await call('POST', '/api/v1/auth/login', {
      body: { username: 'audrey', password: 'wrong after the window' },
    });

    expect((await login('audrey')).status).toBe(200);
  });

  it('resets TOTP so the user enrols again', async () => {
    const device = await enrolTotp(call, 'rita', passwordFor('rita'), clock.now);
    expect((await loginWithTotp(call, 'rita', passwordFor('rita'), device)).length).toBe(43);

    const reset = await call('POST', `/api/v1/users/${ids['rita']}/reset-totp`, {
      token: adminToken,
    });

    expect(reset.status).toBe(200);
    expect(reset.json.totp).toBe('none');
    expect((await login('rita')).json.scope).toBe('enrolment');
    const events = await store.audit.listEvents({ action: 'user.totp.reset', limit: 10 });
    expect(events.at(-1)).toMatchObject({ actor: 'admin', objectId: ids['rita'] });
  });
});

describeEachDialect('login rate limit', (database) => {
  let keyFile: TestKeyFile;
  let node: TestNode;

  beforeAll(async () => {
    const store = await database.openStore();
    keyFile = await createTestKeyFile();
    node = await startTestNode({
      store,
      keyFile,
      logger: database.logger,
      clock: { now: START },
      loginRateLimit: { max: 3, windowSeconds: 60 },
    });
  });

  afterAll(async () => {
    await node?.close();
    await keyFile?.remove();
  });

  it('answers 429 with SR_RATE_LIMITED', async () => {
    const statuses: number[] = [];
    let last: Awaited<ReturnType<ApiCall>> | undefined;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      last = await node.call('POST', '/api/v1/auth/login', {
        body: { username: 'nobody', password: 'any password at all' },
      });
      statuses.push(last.status);
    }

    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(last?.json.error.code).toBe('SR_RATE_LIMITED');
    // The wait is the time left in the window, which depends on how long the requests took.
    expect(last?.json.error.message).toMatch(
      /^Client 127\.0\.0\.1 sent more than 3 login requests within the rate-limit window\. Wait \d+ (second|seconds|minute) and try again\.$/,
    );
  });
});
