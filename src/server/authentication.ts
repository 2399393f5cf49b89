import type { FastifyRequest } from 'fastify';

import { isApiTokenShaped } from '../apps/api-token-format.js';
import type { AuthenticatedUser, AuthService } from '../auth/service.js';
import { assertAllowed, type Permission } from '../auth/policy.js';
import { StrongroomError } from '../errors.js';
import type { Actor } from '../vault/types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** True on the routes that a session limited to TOTP enrolment may call. */
    allowEnrolmentSession?: boolean;
  }
}

/** The user and token of an authenticated request. */
interface Principal {
  user: AuthenticatedUser;
  token: string;
}

const principals = new WeakMap<FastifyRequest, Principal>();

const BEARER_PREFIX = /^Bearer +/i;

/**
 * Returns an onRequest hook that resolves the bearer token of the request or throws
 * SR_AUTH_REQUIRED. A session limited to TOTP enrolment gets SR_TOTP_ENROLMENT_REQUIRED on every
 * route but those marked with `config: { allowEnrolmentSession: true }`.
 */
export function createAuthenticationHook(
  auth: AuthService,
): (request: FastifyRequest) => Promise<void> {
  return async function authenticateRequest(request: FastifyRequest): Promise<void> {
    const token = readBearerToken(request.headers.authorization);
    if (isApiTokenShaped(token)) {
      throw new StrongroomError(
        'SR_API_TOKEN_REJECTED',
        'Application API tokens are accepted only under /api/v1/app/. Log in with POST /api/v1/auth/login and send the session token.',
      );
    }
    const user = await auth.authenticate(token);
    principals.set(request, { user, token });

    if (
      user.sessionScope === 'enrolment' &&
      request.routeOptions.config.allowEnrolmentSession !== true
    ) {
      throw new StrongroomError(
        'SR_TOTP_ENROLMENT_REQUIRED',
        `User ${user.username} must enrol a TOTP second factor before using the API: POST /api/v1/auth/totp/enrol, then POST /api/v1/auth/totp/confirm with a code, then log in again.`,
      );
    }
  };
}

/**
 * Binds the user of a session to a request that was authenticated another way than by a bearer
 * header (the web console's session cookie), so that requirePermission and getActor apply to it.
 */
export function bindPrincipal(
  request: FastifyRequest,
  user: AuthenticatedUser,
  token: string,
): void {
  principals.set(request, { user, token });
}

/** Returns an onRequest hook that throws SR_FORBIDDEN unless the role of the user has the permission. */
export function requirePermission(
  permission: Permission,
): (request: FastifyRequest) => Promise<void> {
  return async function authorizeRequest(request: FastifyRequest): Promise<void> {
    assertAllowed(getPrincipal(request).user.role, permission);
  };
}

/** Returns the principal set by the authentication hook. Throws SR_AUTH_REQUIRED on a route without it. */
export function getPrincipal(request: FastifyRequest): Principal {
  const principal = principals.get(request);
  if (principal === undefined) {
    throw new StrongroomError(
      'SR_AUTH_REQUIRED',
      'The request is not authenticated. Send a bearer token.',
    );
  }
  return principal;
}

/** Returns the actor that the vault records in audit events: the user and the client address. */
export function getActor(request: FastifyRequest): Actor {
  const { user } = getPrincipal(request);
  return { userId: user.id, username: user.username, role: user.role, clientAddress: request.ip };
}

/** Extracts the token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1). */
function readBearerToken(header: string | undefined): string {
  if (header === undefined || header === '') {
    throw new StrongroomError(
      'SR_AUTH_REQUIRED',
      'The request has no Authorization header. Log in with POST /api/v1/auth/login and send the token as "Authorization: Bearer <token>".',
    );
  }

  if (!BEARER_PREFIX.test(header)) {
    throw new StrongroomError(
      'SR_AUTH_REQUIRED',
      'The Authorization header does not use the Bearer scheme. Send the token as "Authorization: Bearer <token>".',
    );
  }

  return header.replace(BEARER_PREFIX, '').trim();
}
