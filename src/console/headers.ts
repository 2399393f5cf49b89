import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The Content-Security-Policy of every console response. The pages use no inline script or
 * style and no other origin, so everything but the console's own files is blocked.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * Sets the security headers of every console response. Pages are never stored by caches because
 * they show personal data, tokens or secrets; `Pragma` covers HTTP/1.0 caches.
 */
export async function setSecurityHeaders(
  _request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  void reply.headers({
    'content-security-policy': CONSOLE_CSP,
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
  });
}
