import { afterAll, beforeAll, expect, it } from 'vitest';

import type { Store } from '../../src/store/repositories.js';
import { describeEachDialect } from '../support/databases.js';
import { configureTargetAccess, enrolAndLogin, grantAccess } from '../support/people.js';
import {
  createTestKeyFile,
  createUsers,
  passwordFor,
  startTestNode,
  type TestClock,
  type TestKeyFile,
  type TestNode,
} from '../support/service.js';

const START = new Date('2032-02-01T09:00:00.000Z');
const ROUNDS = 10;

/**
 * Two service nodes, each with its own store and connection pool on one database, as behind a load
 * balancer. Two operators with approved grants check the same account out at the same moment, one
 * through each node: the database must let exactly one of them have it.
 */
describeEachDialect('concurrent checkout on two nodes', (database) => {
  let keyFile: TestKeyFile;
  let stores: Store[];
  let nodes: TestNode[];
  const clock: TestClock = { now: START };
  const tokens: Record<string, string> = {};
  let ids: Record<string, string>;
  let accountId: string;

  beforeAll(async () => {
    const url = await database.createDatabase();
    keyFile = await createTestKeyFile();
    stores = [await database.openStore({ url }), await database.openStore({ url })];
    nodes = [];
    for (const store of stores) {
      nodes.push(await startTestNode({ store, keyFile, logger: database.logger, clock }));
    }
    const [first, second] = nodes as [TestNode, TestNode];

    ids = await createUsers(stores[0]!, {
      admin: 'administrator',
      olga: 'operator',
      oscar: 'operator',
      abel: 'approver',
    });
    for (const username of Object.keys(ids)) {
      tokens[username] = (
        await enrolAndLogin(first.call, username, passwordFor(username), START)
      ).token;
    }

    const target = await first.call('POST', '/api/v1/targets', {
      token: tokens['admin'],
      body: { name: 'shared-db', address: '192.0.2.50' },
    });
    const account = await second.call('POST', `/api/v1/targets/${target.json.id}/accounts`, {
      token: tokens['admin'],
      body: { username: 'root', secret: 'contended secret' },
    });
    accountId = account.json.id as string;

    const parties = (operator: string) => ({
      admin: tokens['admin']!,
      operator: tokens[operator]!,
      operatorId: ids[operator]!,
      approver: tokens['abel']!,
      approverId: ids['abel']!,
    });
    const groups = await configureTargetAccess(
      first.call,
      parties('olga'),
      target.json.id as string,
    );
    await first.call('PUT', `/api/v1/groups/${groups.operatorGroupId}/members/${ids['oscar']}`, {
      token: tokens['admin'],
    });
    await grantAccess(first.call, parties('olga'), accountId);
    await grantAccess(second.call, parties('oscar'), accountId);
  });

  afterAll(async () => {
    for (const node of nodes ?? []) {
      await node.close();
    }
    await keyFile?.remove();
  });

  for (let round = 1; round <= ROUNDS; round += 1) {
    it(`lets exactly one win, round ${round}`, async () => {
      const [first, second] = nodes as [TestNode, TestNode];
      const body = { reason: `contention round ${round}` };

      const replies = await Promise.all([
        first.call('POST', `/api/v1/accounts/${accountId}/checkout`, {
          token: tokens['olga'],
          body,
        }),
        second.call('POST', `/api/v1/accounts/${accountId}/checkout`, {
          token: tokens['oscar'],
          body,
        }),
      ]);

      const statuses = replies.map((reply) => reply.status).sort();
      expect(statuses).toEqual([200, 409]);
      const loser = replies.find((reply) => reply.status === 409)!;
      expect(loser.json.error.code).toBe('SR_ACCOUNT_CHECKED_OUT');

      const holder = await stores[1]!.access.findCheckout(accountId);
      const winner = replies[0]!.status === 200 ? 'olga' : 'oscar';
      expect(holder?.userId).toBe(ids[winner]);

      // Check in through the other node, so that each node reads the other's writes.
      const checkinNode = winner === 'olga' ? second : first;
      const checkin = await checkinNode.call('POST', `/api/v1/accounts/${accountId}/checkin`, {
        token: tokens[winner],
      });
      expect(checkin.status).toBe(200);
    });
  }

  it('audits one checkout per round', async () => {
    // Refused checkouts are audited once their response is sent, so the last may still be on its way.
    let checkouts = await stores[0]!.audit.listEvents({ action: 'account.checkout', limit: 100 });
    for (let attempt = 0; attempt < 50 && checkouts.length < 2 * ROUNDS; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      checkouts = await stores[0]!.audit.listEvents({ action: 'account.checkout', limit: 100 });
    }
    const checkins = await stores[0]!.audit.listEvents({ action: 'account.checkin', limit: 100 });

    // The losing checkout of each round is audited as a failure.
    expect(checkouts.filter((event) => event.outcome === 'success')).toHaveLength(ROUNDS);
    expect(checkouts.filter((event) => event.outcome === 'failure')).toHaveLength(ROUNDS);
    expect(checkins).toHaveLength(ROUNDS);
  });
});
