import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';

import { StrongroomError } from '../../errors.js';
import {
  isLoopbackAddress,
  tokenMatches,
  type MetricsAccess,
} from '../../observability/metrics-access.js';
import { errorResponses } from '../schemas.js';

const BEARER_PREFIX = /^Bearer +/i;

/** The registry to export and who may read it. */
export interface MetricsEndpoint {
  registry: Registry;
  access: MetricsAccess;
}

/**
 * Registers GET /metrics in the Prometheus text format, unless access is `off`. The metrics carry
 * counts, durations and labels (provider, slot, operation, error code, CKR name) and never a key,
 * PIN, token or secret.
 */
export function registerMetricsRoute(app: FastifyInstance, endpoint: MetricsEndpoint): void {
  const { access, registry } = endpoint;
  if (access.kind === 'off') {
    return;
  }

  app.get(
    '/metrics',
    {
      onRequest: async (request) => checkAccess(request, access),
      schema: {
        summary: 'Export the service metrics in the Prometheus text format',
        description:
          'Open to loopback clients by default (metrics.access = loopback), or to clients with the bearer token of metrics.tokenFile (metrics.access = token).',
        tags: ['health'],
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4.',
            type: 'string',
          },
          ...errorResponses(401, 403, 500),
        },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.header('Cache-Control', 'no-store').type(registry.contentType).send(text);
    },
  );
}

function checkAccess(request: FastifyRequest, access: MetricsAccess): void {
  if (access.kind === 'loopback') {
    if (!isLoopbackAddress(request.socket.remoteAddress)) {
      throw new StrongroomError(
        'SR_FORBIDDEN',
        'GET /metrics is open to loopback clients only. Scrape it from this host, or set metrics.access = token and metrics.tokenFile in strongroom.properties.',
      );
    }
    return;
  }
  if (access.kind !== 'token') {
    return;
  }

  const header = request.headers.authorization;
  if (header === undefined || !BEARER_PREFIX.test(header)) {
    throw new StrongroomError(
      'SR_AUTH_REQUIRED',
      'GET /metrics requires the bearer token of metrics.tokenFile in the Authorization header.',
    );
  }
  if (!tokenMatches(access, header.replace(BEARER_PREFIX, '').trim())) {
    throw new StrongroomError(
      'SR_AUTH_REQUIRED',
      'The bearer token is not the one in metrics.tokenFile. Send the token from that file.',
    );
  }
}
