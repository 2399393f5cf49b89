import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { StrongroomError } from '../../errors.js';
import { requirePermission } from '../../server/authentication.js';
import type { AuditEventRecord } from '../../store/repositories.js';
import { renderPage, type ConsoleContext } from '../context.js';
import { toFormError } from '../forms.js';

/** Events read per database query while searching. */
const PAGE_SIZE = 1000;

/** Maximum number of events one search reads; the page reports when the search stopped there. */
export const AUDIT_SEARCH_MAX_SCANNED = 50_000;

/** Maximum number of matching events one search shows, newest first. */
export const AUDIT_SEARCH_MAX_SHOWN = 200;

interface AuditFilters {
  actor: string;
  action: string;
  object: string;
  from: string;
  to: string;
}

/** Registers the audit search and the audit chain verification. */
export function registerAuditPages(app: FastifyInstance, context: ConsoleContext): void {
  const readAudit = { onRequest: requirePermission('audit.read') };

  app.get<{ Querystring: Record<string, unknown> }>('/audit', readAudit, async (request, reply) => {
    const filters = readFilters(request.query);
    try {
      const result = await searchEvents(context, filters);
      return await renderAudit(request, reply, { filters, ...result, error: null, chain: null });
    } catch (error) {
      const formError = toFormError(error);
      void reply.status(formError.status);
      return renderAudit(request, reply, {
        filters,
        events: [],
        truncated: false,
        error: formError,
        chain: null,
      });
    }
  });

  app.get('/audit/chain', readAudit, async (request, reply) => {
    if (context.deps.auditChain === undefined) {
      throw new StrongroomError(
        'SR_NOT_FOUND',
        'This service was started without audit chain verification. Run `strongroom audit verify` on the service host.',
      );
    }
    const chain = await context.deps.auditChain.verify();
    return renderAudit(request, reply, {
      filters: readFilters({}),
      events: [],
      truncated: false,
      error: null,
      chain,
    });
  });
}

function renderAudit(
  request: FastifyRequest,
  reply: FastifyReply,
  data: Record<string, unknown>,
): Promise<FastifyReply> {
  return renderPage(request, reply, 'audit', { title: 'Audit trail', nav: 'audit', ...data });
}

function readFilters(query: Record<string, unknown>): AuditFilters {
  const text = (name: string) => {
    const value = query[name];
    return typeof value === 'string' ? value.trim().slice(0, 200) : '';
  };
  return {
    actor: text('actor'),
    action: text('action'),
    object: text('object'),
    from: text('from'),
    to: text('to'),
  };
}

/**
 * Reads events from the start of the time range in sequence order and keeps those that match.
 * NOTE: filters other than the start time are applied here, not in SQL. A search therefore reads at
 * most AUDIT_SEARCH_MAX_SCANNED events and reports when it stopped, and a later start reads fewer.
 */
async function searchEvents(
  context: ConsoleContext,
  filters: AuditFilters,
): Promise<{ events: AuditEventRecord[]; truncated: boolean }> {
  const from = parseTime(filters.from, 'from');
  const to = parseTime(filters.to, 'to');
  const matches: AuditEventRecord[] = [];
  let afterSeq = 0;
  let scanned = 0;

  while (scanned < AUDIT_SEARCH_MAX_SCANNED) {
    const page = await context.deps.store.audit.listChainedEvents({
      afterSeq,
      limit: PAGE_SIZE,
      ...(from === undefined ? {} : { since: from }),
    });
    for (const event of page) {
      if (to !== undefined && event.occurredAt > to) {
        return { events: newestFirst(matches), truncated: false };
      }
      if (matchesFilters(event, filters)) {
        matches.push(event);
      }
    }
    scanned += page.length;
    if (page.length < PAGE_SIZE) {
      return { events: newestFirst(matches), truncated: false };
    }
    afterSeq = page[page.length - 1]!.seq;
  }
  return { events: newestFirst(matches), truncated: true };
}

function matchesFilters(event: AuditEventRecord, filters: AuditFilters): boolean {
  if (filters.actor !== '' && event.actor !== filters.actor) return false;
  if (filters.action !== '' && !event.action.startsWith(filters.action)) return false;
  if (filters.object === '') return true;
  return event.objectId === filters.object || Object.values(event.details).includes(filters.object);
}

function newestFirst(events: AuditEventRecord[]): AuditEventRecord[] {
  return events
    .slice(-AUDIT_SEARCH_MAX_SHOWN)
    .reverse()
    .map((event) => ({
      seq: event.seq,
      occurredAt: event.occurredAt,
      actor: event.actor,
      action: event.action,
      objectType: event.objectType,
      objectId: event.objectId,
      outcome: event.outcome,
      reason: event.reason,
      clientAddress: event.clientAddress,
      details: event.details,
    }));
}

/** Parses an ISO 8601 time of a filter field into the stored form, or undefined when blank. */
function parseTime(value: string, field: string): string | undefined {
  if (value === '') {
    return undefined;
  }
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      `The field ${field} is not a valid time. Write it in ISO 8601 UTC, such as 2032-01-10T12:00Z.`,
      { details: { field: `body.${field}` } },
    );
  }
  return new Date(time).toISOString();
}
