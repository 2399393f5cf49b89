import { Writable } from 'node:stream';

import pino from 'pino';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';

import { createAccessWorkflow, DEFAULT_ACCESS_SETTINGS } from '../../src/access/index.js';
import { StrongroomError } from '../../src/errors.js';
import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import {
  configureTargetAccess,
  enrolAndLogin,
  grantAccess,
  type ApiCall,
} from '../support/people.js';
import {
  createTestKeyFile,
  createUsers,
  passwordFor,
  startTestNode,
  type TestClock,
  type TestKeyFile,
  type TestNode,
} from '../support/service.js';

const START = new Date('2031-05-01T08:00:00.000Z');
const SECRET = 'root password of db07, not for logs';

describeEachDialect('access workflow', (database) => {
  let store: Store;
  let keyFile: TestKeyFile;
  let node: TestNode;
  let call: ApiCall;
  const clock: TestClock = { now: START };
  const logs: string[] = [];
  const tokens: Record<string, string> = {};
  let ids: Record<string, string>;
  let targetId: string;

  /** Creates an account on the target and returns its id. */
  const newAccount = async (name: string): Promise<string> => {
    const response = await call('POST', `/api/v1/targets/${targetId}/accounts`, {
      token: tokens['admin'],
      body: { username: name, secret: SECRET },
    });
    expect(response.status).toBe(201);
    return response.json.id as string;
  };

  const parties = (operator = 'olga', approver = 'abel') => ({
    admin: tokens['admin']!,
    operator: tokens[operator]!,
    operatorId: ids[operator]!,
    approver: tokens[approver]!,
    approverId: ids[approver]!,
  });

  const reveal = (accountId: string, as: string, reason = 'restore the nightly backup') =>
    call('POST', `/api/v1/accounts/${accountId}/reveal`, { token: tokens[as], body: { reason } });

  const events = (action: string) => store.audit.listEvents({ action, limit: 1000 });

  beforeAll(async () => {
    store = await database.openStore();
    keyFile = await createTestKeyFile();
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          logs.push(chunk.toString('utf8'));
          callback();
        },
      }),
    );
    node = await startTestNode({ store, keyFile, logger, clock });
    call = node.call;
    ids = await createUsers(store, {
      admin: 'administrator',
      admin2: 'administrator',
      olga: 'operator',
      oscar: 'operator',
      outsider: 'operator',
      abel: 'approver',
      anna: 'approver',
      adam: 'approver',
    });
    for (const username of Object.keys(ids)) {
      tokens[username] = (await enrolAndLogin(call, username, passwordFor(username), START)).token;
    }

    const target = await call('POST', '/api/v1/targets', {
      token: tokens['admin'],
      body: { name: 'db07', address: 'db07.example.internal' },
    });
    targetId = target.json.id as string;
    const groups = await configureTargetAccess(call, parties(), targetId, {
      maxDurationSeconds: 7200,
    });
    for (const [group, user] of [
      [groups.operatorGroupId, 'oscar'],
      [groups.approverGroupId, 'anna'],
    ] as const) {
      await call('PUT', `/api/v1/groups/${group}/members/${ids[user]}`, { token: tokens['admin'] });
    }
  });

  afterAll(async () => {
    await node?.close();
    await keyFile?.remove();
  });

  it('refuses a reveal without a grant', async () => {
    const accountId = await newAccount('nogrant');

    for (const user of ['olga', 'admin']) {
      const response = await reveal(accountId, user);
      expect(response.status, user).toBe(403);
      expect(response.json.error.code, user).toBe('SR_ACCESS_NOT_GRANTED');
    }
  });

  it('reveals within an approved grant', async () => {
    const accountId = await newAccount('granted');
    const requestId = await grantAccess(call, parties(), accountId);

    const response = await reveal(accountId, 'olga', 'rotate the TLS keys');

    expect(response.status).toBe(200);
    expect(response.json.secret).toBe(SECRET);
    expect((await events('secret.reveal')).at(-1)).toMatchObject({
      actor: 'olga',
      objectId: accountId,
      outcome: 'success',
      reason: 'rotate the TLS keys',
      details: { requestId, grantKind: 'standard' },
    });
    expect((await events('access.request')).at(-1)).toMatchObject({
      actor: 'olga',
      objectId: requestId,
      reason: 'scheduled maintenance',
    });
    expect((await events('access.approve')).at(-1)).toMatchObject({
      actor: 'abel',
      objectId: requestId,
      reason: 'ok',
      details: { status: 'approved' },
    });
  });

  it('keeps a grant to its requester', async () => {
    const accountId = await newAccount('personal');
    await grantAccess(call, parties(), accountId);

    const response = await reveal(accountId, 'oscar');

    expect(response.status).toBe(403);
    expect(response.json.error.code).toBe('SR_ACCESS_NOT_GRANTED');
  });

  it('refuses a request outside the granted groups', async () => {
    const accountId = await newAccount('outside');

    const response = await call('POST', '/api/v1/access-requests', {
      token: tokens['outsider'],
      body: { accountId, reason: 'curious', durationSeconds: 600 },
    });

    expect(response.status).toBe(403);
    expect(response.json.error.code).toBe('SR_FORBIDDEN');
  });

  it('bounds the period by the policy', async () => {
    const accountId = await newAccount('bounded');

    const response = await call('POST', '/api/v1/access-requests', {
      token: tokens['olga'],
      body: { accountId, reason: 'long job', durationSeconds: 7201 },
    });

    expect(response.status).toBe(400);
    expect(response.json.error.message).toBe(
      'The field body.durationSeconds is 7201, outside the allowed range. Give 60 to 7200 seconds.',
    );
  });

  it('refuses a request without a policy', async () => {
    const target = await call('POST', '/api/v1/targets', {
      token: tokens['admin'],
      body: { name: 'nopolicy', address: '192.0.2.99' },
    });
    const account = await call('POST', `/api/v1/targets/${target.json.id}/accounts`, {
      token: tokens['admin'],
      body: { username: 'root', secret: SECRET },
    });

    const response = await call('POST', '/api/v1/access-requests', {
      token: tokens['olga'],
      body: { accountId: account.json.id, reason: 'no policy yet', durationSeconds: 600 },
    });

    expect(response.status).toBe(409);
    expect(response.json.error.code).toBe('SR_ACCESS_POLICY_MISSING');
  });

  it('needs the approvals the policy names', async () => {
    const approverGroupId = (await store.groups.findPolicy(targetId))!.approverGroupId;
    const setApprovals = (approvalsRequired: number) =>
      call('PUT', `/api/v1/targets/${targetId}/policy`, {
        token: tokens['admin'],
        body: { approverGroupId, approvalsRequired, maxDurationSeconds: 7200 },
      });
    await setApprovals(2);
    onTestFinished(async () => {
      await setApprovals(1);
    });
    const accountId = await newAccount('twoapprovals');
    const request = await call('POST', '/api/v1/access-requests', {
      token: tokens['olga'],
      body: { accountId, reason: 'database upgrade', durationSeconds: 600 },
    });
    const url = `/api/v1/access-requests/${request.json.id}/approve`;

    const first = await call('POST', url, { token: tokens['abel'], body: { comment: 'yes' } });
    const again = await call('POST', url, { token: tokens['abel'], body: { comment: 'yes!' } });
    const outsider = await call('POST', url, { token: tokens['adam'], body: {} });
    const second = await call('POST', url, { token: tokens['anna'], body: { comment: 'fine' } });

    expect(first.json.status).toBe('pending');
    expect(again.json.error.code).toBe('SR_ACCESS_ALREADY_DECIDED');
    expect(outsider.status).toBe(403);
    expect(second.json.status).toBe('approved');
    expect(second.json.expiresAt).toBe(new Date(START.getTime() + 600_000).toISOString());
    const comments = second.json.decisions.map((decision: { comment: string }) => decision.comment);
    expect(comments.sort()).toEqual(['fine', 'yes']);
  });

  it('ends a request on rejection', async () => {
    const accountId = await newAccount('rejected');
    const request = await call('POST', '/api/v1/access-requests', {
      token: tokens['olga'],
      body: { accountId, reason: 'just looking', durationSeconds: 600 },
    });
    const base = `/api/v1/access-requests/${request.json.id}`;

    const rejected = await call('POST', `${base}/reject`, {
      token: tokens['abel'],
      body: { comment: 'no ticket' },
    });
    const approved = await call('POST', `${base}/approve`, { token: tokens['anna'], body: {} });

    expect(rejected.json.status).toBe('rejected');
    expect(approved.status).toBe(409);
    expect(approved.json.error.code).toBe('SR_ACCESS_REQUEST_NOT_PENDING');
    expect((await reveal(accountId, 'olga')).status).toBe(403);
    expect((await events('access.reject')).at(-1)).toMatchObject({
      actor: 'abel',
      reason: 'no ticket',
    });
  });

  it('expires a grant by time', async () => {
    const accountId = await newAccount('expiring');
    const requestId = await grantAccess(call, parties(), accountId, 600);
    await node.sweep();

    clock.now = new Date(START.getTime() + 600_000);
    const refused = await reveal(accountId, 'olga');
    const shown = await call('GET', `/api/v1/access-requests/${requestId}`, {
      token: tokens['olga'],
    });
    const first = await node.sweep();
    const second = await node.sweep();
    clock.now = START;

    expect(refused.status).toBe(403);
    expect(shown.json.status).toBe('expired');
    expect(first.grantsExpired).toBeGreaterThanOrEqual(1);
    expect(second.grantsExpired).toBe(0);
    const expired = (await events('access.expired')).filter((e) => e.objectId === requestId);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ actor: 'system', details: { accountId } });
  });

  it('checks out exclusively until check-in', async () => {
    const accountId = await newAccount('exclusive');
    await grantAccess(call, parties('olga'), accountId);
    await grantAccess(call, parties('oscar'), accountId);
    const url = `/api/v1/accounts/${accountId}`;
    const body = { reason: 'patch the kernel' };

    const checkout = await call('POST', `${url}/checkout`, { token: tokens['olga'], body });
    const otherCheckout = await call('POST', `${url}/checkout`, { token: tokens['oscar'], body });
    const otherReveal = await reveal(accountId, 'oscar');
    const ownReveal = await reveal(accountId, 'olga');
    const otherCheckin = await call('POST', `${url}/checkin`, { token: tokens['oscar'] });
    const checkin = await call('POST', `${url}/checkin`, { token: tokens['olga'] });
    const account = await call('GET', url, { token: tokens['oscar'] });
    const afterCheckin = await call('POST', `${url}/checkout`, { token: tokens['oscar'], body });

    expect(checkout.status).toBe(200);
    expect(checkout.json.secret).toBe(SECRET);
    expect(otherCheckout.json.error.code).toBe('SR_ACCOUNT_CHECKED_OUT');
    expect(otherReveal.status).toBe(409);
    expect(otherReveal.json.error.code).toBe('SR_ACCOUNT_CHECKED_OUT');
    expect(ownReveal.status).toBe(200);
    expect(otherCheckin.json.error.code).toBe('SR_ACCOUNT_NOT_CHECKED_OUT');
    expect(checkin.json).toEqual({ rotationRequired: true });
    expect(account.json.rotationRequired).toBe(true);
    expect(afterCheckin.status).toBe(200);
    const checkouts = (await events('account.checkout')).filter((e) => e.objectId === accountId);
    expect(checkouts.find((e) => e.outcome === 'success')).toMatchObject({
      actor: 'olga',
      reason: 'patch the kernel',
    });
    expect((await events('account.checkin')).at(-1)).toMatchObject({
      actor: 'olga',
      details: { rotationRequired: true },
    });
  });

  it('clears rotation on a new secret version', async () => {
    const accountId = await newAccount('rotated');
    await grantAccess(call, parties('olga'), accountId);
    const url = `/api/v1/accounts/${accountId}`;
    const checkout = await call('POST', `${url}/checkout`, {
      token: tokens['olga'],
      body: { reason: 'rotate the service password' },
    });
    const checkin = await call('POST', `${url}/checkin`, { token: tokens['olga'] });
    const afterCheckin = await call('GET', url, { token: tokens['admin'] });

    const stored = await call('POST', `${url}/secret-versions`, {
      token: tokens['admin'],
      body: { secret: 'the rotated root password', reason: 'rotate after check-in' },
    });
    const afterRotation = await call('GET', url, { token: tokens['admin'] });

    expect(checkout.status).toBe(200);
    expect(checkin.json).toEqual({ rotationRequired: true });
    expect(afterCheckin.json.rotationRequired).toBe(true);
    expect(stored.status, JSON.stringify(stored.json)).toBe(201);
    expect(afterRotation.json.rotationRequired).toBe(false);
    expect((await store.vault.findAccount(accountId))?.rotationRequired).toBe(false);
  });

  it('ends a checkout when its grant expires', async () => {
    const accountId = await newAccount('checkoutexpiry');
    await grantAccess(call, parties(), accountId, 600);
    await call('POST', `/api/v1/accounts/${accountId}/checkout`, {
      token: tokens['olga'],
      body: { reason: 'long maintenance' },
    });

    clock.now = new Date(START.getTime() + 600_000);
    const result = await node.sweep();
    clock.now = START;

    expect(result.checkoutsExpired).toBe(1);
    expect(await store.access.findCheckout(accountId)).toBeUndefined();
    expect((await store.vault.findAccount(accountId))?.rotationRequired).toBe(true);
    expect((await events('account.checkout.expired')).at(-1)).toMatchObject({
      actor: 'system',
      objectId: accountId,
      details: { userId: ids['olga'], rotationRequired: true },
    });
  });

  it('breaks glass with two administrators', async () => {
    const accountId = await newAccount('breakglass');
    const request = await call('POST', '/api/v1/break-glass', {
      token: tokens['admin'],
      body: { accountId, reason: 'approvers unreachable during outage', durationSeconds: 900 },
    });
    const requestId = request.json.id as string;
    const url = `/api/v1/break-glass/${requestId}/confirm`;

    const beforeConfirm = await reveal(accountId, 'admin');
    const selfConfirm = await call('POST', url, { token: tokens['admin'] });
    const approverRoute = await call('POST', `/api/v1/access-requests/${requestId}/approve`, {
      token: tokens['abel'],
      body: {},
    });
    const confirm = await call('POST', url, { token: tokens['admin2'] });
    const revealed = await reveal(accountId, 'admin', 'outage 2031-05-01');
    const otherAdmin = await reveal(accountId, 'admin2');
    clock.now = new Date(START.getTime() + 900_000);
    const afterExpiry = await reveal(accountId, 'admin');
    clock.now = START;

    expect(request.status).toBe(201);
    expect(request.json.kind).toBe('break-glass');
    expect(beforeConfirm.status).toBe(403);
    expect(selfConfirm.json.error.code).toBe('SR_ACCESS_SELF_APPROVAL');
    expect(approverRoute.status).toBe(403);
    expect(confirm.status).toBe(200);
    expect(confirm.json.status).toBe('approved');
    expect(revealed.status).toBe(200);
    expect(revealed.json.secret).toBe(SECRET);
    expect(otherAdmin.status).toBe(403);
    expect(afterExpiry.status).toBe(403);

    for (const action of ['breakglass.request', 'breakglass.confirm']) {
      expect((await events(action)).at(-1), action).toMatchObject({
        objectId: requestId,
        details: { alert: true, accountId },
      });
    }
    // Refused reveals are audited after their response, so only the one success is checked here.
    const reveals = (await events('secret.reveal')).filter(
      (e) => e.objectId === accountId && e.outcome === 'success',
    );
    expect(reveals).toHaveLength(1);
    expect(reveals[0]).toMatchObject({
      actor: 'admin',
      details: { alert: true, grantKind: 'break-glass' },
    });
    const alerts = logs
      .map((line) => JSON.parse(line) as { level: number; alert?: boolean; msg: string })
      .filter((line) => line.alert === true);
    expect(alerts.map((line) => [line.level, line.msg])).toEqual([
      [50, 'break-glass requested'],
      [50, 'break-glass confirmed'],
      [50, 'break-glass reveal'],
    ]);
  });

  /** Builds the workflow over the suite's store with an audit log that cannot write. */
  const unauditedWorkflow = () =>
    createAccessWorkflow({
      groups: store.groups,
      access: store.access,
      users: store.users,
      vault: store.vault,
      secrets: { revealSecret: () => Promise.reject(new Error('no reveal without an event')) },
      audit: {
        record: () =>
          Promise.reject(new StrongroomError('SR_AUDIT_WRITE_FAILED', 'The audit table is full.')),
      },
      logger: pino({ level: 'silent' }),
      settings: DEFAULT_ACCESS_SETTINGS,
      now: () => clock.now,
    });

  const actorOf = (username: string, role: string) => ({
    userId: ids[username]!,
    username,
    role,
    clientAddress: '127.0.0.1',
  });

  it('refuses a checkout it cannot audit', async () => {
    const accountId = await newAccount('unaudited');
    await grantAccess(call, parties(), accountId);

    const error = await unauditedWorkflow()
      .use.checkout(accountId, 'audit is down', actorOf('olga', 'operator'))
      .catch((caught: unknown) => caught);

    expect((error as StrongroomError).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect(await store.access.findCheckout(accountId)).toBeUndefined();
  });

  it('refuses an approval it cannot audit', async () => {
    const accountId = await newAccount('unapproved');
    const request = await call('POST', '/api/v1/access-requests', {
      token: tokens['olga'],
      body: { accountId, reason: 'audit will fail', durationSeconds: 600 },
    });
    const requestId = request.json.id as string;

    const error = await unauditedWorkflow()
      .requests.approve(requestId, 'fine', actorOf('abel', 'approver'))
      .catch((caught: unknown) => caught);

    expect((error as StrongroomError).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect((await store.access.findRequest(requestId))?.status).toBe('pending');
    expect(await store.access.listDecisions(requestId)).toEqual([]);
    expect((await reveal(accountId, 'olga')).status).toBe(403);
  });

  it('refuses a break-glass confirmation it cannot audit', async () => {
    const accountId = await newAccount('unconfirmed');
    const request = await call('POST', '/api/v1/break-glass', {
      token: tokens['admin'],
      body: { accountId, reason: 'audit will fail', durationSeconds: 600 },
    });
    const requestId = request.json.id as string;

    const error = await unauditedWorkflow()
      .breakGlass.confirm(requestId, actorOf('admin2', 'administrator'))
      .catch((caught: unknown) => caught);

    expect((error as StrongroomError).code).toBe('SR_AUDIT_WRITE_FAILED');
    expect((await store.access.findRequest(requestId))?.status).toBe('pending');
    expect((await reveal(accountId, 'admin')).status).toBe(403);
  });

  it('audits administrative changes', async () => {
    const actions = new Set(
      (await store.audit.listEvents({ limit: 1000 })).map((event) => event.action),
    );

    for (const action of [
      'group.create',
      'group.member.add',
      'grant.create',
      'policy.update',
      'auth.totp.enrol',
    ]) {
      expect(actions, action).toContain(action);
    }
  });

  it('keeps secrets out of logs', () => {
    const text = logs.join('');

    expect(text).not.toContain(SECRET);
    for (const token of Object.values(tokens)) {
      expect(text).not.toContain(token);
    }
  });
});
