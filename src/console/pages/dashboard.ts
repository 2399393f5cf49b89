import type { FastifyInstance } from 'fastify';

import { isAllowed } from '../../auth/policy.js';
import { getActor } from '../../server/authentication.js';
import { renderPage, type ConsoleContext } from '../context.js';
import { nameRequests } from './names.js';

/**
 * Registers GET /console: the user's active grants, the requests waiting for the user's decision,
 * the master key providers and, for roles that read the audit trail, the head of the audit chain.
 */
export function registerDashboard(app: FastifyInstance, context: ConsoleContext): void {
  app.get('', async (request, reply) => {
    const actor = getActor(request);
    const role = actor.role as Parameters<typeof isAllowed>[0];
    const requests = isAllowed(role, 'access.read')
      ? await context.services.access.requests.list(actor)
      : [];

    const grants = requests.filter(
      (item) => item.requesterId === actor.userId && item.status === 'approved',
    );
    const pending = isAllowed(role, 'access.approve')
      ? requests.filter((item) => item.status === 'pending' && item.requesterId !== actor.userId)
      : [];
    const health = await context.deps.health.check();
    const chain = isAllowed(role, 'audit.read') ? await readChainStatus(context) : null;

    return renderPage(request, reply, 'dashboard', {
      title: 'Dashboard',
      nav: 'dashboard',
      grants: await nameRequests(context, grants),
      pending: await nameRequests(context, pending),
      health,
      chain,
    });
  });
}

/** Reads the head of the audit chain and the latest checkpoint, without walking the whole chain. */
async function readChainStatus(context: ConsoleContext) {
  const head = await context.deps.store.audit.readChainHead();
  const checkpoint = await context.deps.store.audit.latestCheckpoint();
  return {
    headSeq: head.seq,
    checkpointSeq: checkpoint?.eventSeq ?? null,
    checkpointAt: checkpoint?.createdAt ?? null,
    verifiable: context.deps.auditChain !== undefined,
  };
}
