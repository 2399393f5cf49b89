import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';

import { StrongroomError } from '../errors.js';

/** How many requests one client address may send to a route per window; the rest get 429 SR_RATE_LIMITED. */
export interface RequestRateLimit {
  max: number;
  windowSeconds: number;
}

/**
 * Registers @fastify/rate-limit for the routes that ask for it with {@link rateLimitedRoute}.
 * Counts are kept in the memory of each node, so behind a load balancer the limit applies per node.
 */
export async function registerRateLimit(app: FastifyInstance): Promise<void> {
  await app.register(rateLimit, { global: false });
}

/**
 * Returns the route config that limits a route to `limit` requests per client address. `requests`
 * names what the client sent, in the plural, for the error message: "login requests".
 */
export function rateLimitedRoute(
  limit: RequestRateLimit,
  requests: string,
): { rateLimit: RateLimitOptions } {
  return {
    rateLimit: {
      max: limit.max,
      timeWindow: limit.windowSeconds * 1000,
      errorResponseBuilder: (request, context) =>
        new StrongroomError(
          'SR_RATE_LIMITED',
          `Client ${request.ip} sent more than ${context.max} ${requests} within the rate-limit window. Wait ${context.after} and try again.`,
          { details: { max: context.max } },
        ),
    },
  };
}
