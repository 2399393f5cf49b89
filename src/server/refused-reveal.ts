import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/types.js';
import { getActor } from './authentication.js';

/**
 * Statuses of reveals refused before the vault saw them: invalid request, forbidden (by role or
 * for want of a grant), not found, and checked out by another user.
 */
const REFUSED_STATUSES = new Set([400, 403, 404, 409]);

/**
 * Builds an onResponse hook that audits a reveal refused before it reached the vault, so that an
 * auditor finds attempts as well as reveals. The vault itself records reveals that it handles,
 * and a request without a valid token has no actor to record (logins are audited separately).
 * `action` is `secret.reveal` or, for the checkout route, `account.checkout`.
 */
export function auditRefusedReveal(audit: AuditLog, action = 'secret.reveal') {
  return async (
    request: FastifyRequest<{ Params: { accountId: string }; Body: { reason?: unknown } }>,
    reply: FastifyReply,
  ): Promise<void> => {
    if (!REFUSED_STATUSES.has(reply.statusCode)) {
      return;
    }

    try {
      const actor = getActor(request);
      const reason =
        typeof request.body?.reason === 'string' ? request.body.reason.slice(0, 500) : '';
      await audit.record({
        actor: actor.username,
        clientAddress: actor.clientAddress,
        action,
        objectType: 'account',
        objectId: String(request.params.accountId ?? ''),
        outcome: 'failure',
        reason,
        details: { status: reply.statusCode },
      });
    } catch (error) {
      request.log.error(
        { err: error, accountId: request.params.accountId },
        'refused reveal could not be audited',
      );
    }
  };
}
