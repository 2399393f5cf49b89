import type { FastifyReply, FastifyRequest } from 'fastify';

import type { AccessWorkflow } from '../access/index.js';
import type { TotpEnrolmentService } from '../auth/enrolment.js';
import type { ApiTokenService } from '../apps/api-tokens.js';
import type { AuthService } from '../auth/service.js';
import { isAllowed, type Permission } from '../auth/policy.js';
import type { UserAdminService } from '../auth/user-admin.js';
import type { ServerDependencies } from '../server/server.js';
import { getPrincipal } from '../server/authentication.js';
import { csrfTokenFor, type ConsoleCookies, type IdleTracker } from './session.js';

/** The services the console calls: the same ones that the REST routes call. */
export interface ConsoleServices {
  auth: AuthService;
  enrolment: TotpEnrolmentService;
  users: UserAdminService;
  access: AccessWorkflow;
  apiTokens: ApiTokenService;
}

/** The dependencies and settings that every console page module uses. */
export interface ConsoleContext {
  deps: ServerDependencies;
  services: ConsoleServices;
  cookies: ConsoleCookies;
  idle: IdleTracker;
  idleSeconds: number;
  now: () => Date;
}

/** The permissions that decide which navigation links and forms a page shows. */
const SHOWN_PERMISSIONS: Permission[] = [
  'targets.read',
  'audit.read',
  'people.read',
  'people.manage',
  'access.read',
  'access.request',
  'access.approve',
  'secrets.reveal',
  'secrets.checkout',
  'api-tokens.manage',
];

/** An error to show next to a form field, or above the form when `field` is empty. */
export interface FormError {
  code: string;
  message: string;
  field: string;
}

/**
 * Renders a page of a signed-in user with the layout's data: the user, the anti-forgery token
 * for forms, and the permissions of the role. Hiding a link is a convenience only: every route
 * checks the permission again.
 */
export async function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown>,
): Promise<FastifyReply> {
  const { user, token } = getPrincipal(request);
  // A session limited to TOTP enrolment gets no navigation: it reaches only the enrolment pages.
  const can: Record<string, boolean> = {};
  for (const permission of SHOWN_PERMISSIONS) {
    can[permission] = user.sessionScope === 'full' && isAllowed(user.role, permission);
  }
  const html = await reply.viewAsync(view, { ...data, user, can, csrf: csrfTokenFor(token) });
  return reply.type('text/html; charset=utf-8').send(html);
}

/** Renders a page that needs no session: login and the session-ended page. */
export async function renderPublicPage(
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown>,
): Promise<FastifyReply> {
  const html = await reply.viewAsync(view, { ...data, user: null, can: {}, csrf: '' });
  return reply.type('text/html; charset=utf-8').send(html);
}
