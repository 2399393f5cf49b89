import type { FastifyInstance } from 'fastify';

import type { HealthService } from '../../vault/types.js';
import { errorResponses } from '../schemas.js';

/** Registers GET /health: no authentication, 200 when healthy and 503 when not. */
export function registerHealthRoutes(app: FastifyInstance, health: HealthService): void {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Report whether the master key and the database are usable',
        tags: ['health'],
        response: {
          200: { description: 'Healthy.', $ref: 'HealthReport#' },
          503: {
            description: 'Not healthy: the body shows which part failed.',
            $ref: 'HealthReport#',
          },
          ...errorResponses(500),
        },
      },
    },
    async (_request, reply) => {
      const report = await health.check();
      return reply.status(report.healthy ? 200 : 503).send(report);
    },
  );
}
