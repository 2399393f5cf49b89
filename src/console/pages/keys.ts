import type { FastifyInstance } from 'fastify';

import { requirePermission } from '../../server/authentication.js';
import { renderPage, type ConsoleContext } from '../context.js';

/** How many DEK migration runs the key page lists, newest first. */
const SHOWN_MIGRATION_RUNS = 10;

/**
 * Registers the read-only key management page: the master key providers, DEK counts per master
 * key and the latest migration runs. Key changes stay with the `strongroom dek` and `hsm`
 * commands on the service host.
 */
export function registerKeyPage(app: FastifyInstance, context: ConsoleContext): void {
  app.get('/keys', { onRequest: requirePermission('people.manage') }, async (request, reply) =>
    renderPage(request, reply, 'keys', {
      title: 'Key management',
      nav: 'keys',
      health: await context.deps.health.check(),
      dekCounts: await context.deps.store.keys.countDeksByKey(),
      runs: await context.deps.store.dekMigrations.listRuns(SHOWN_MIGRATION_RUNS),
    }),
  );
}
