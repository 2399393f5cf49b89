import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { PASSWORD_MAX_LENGTH } from '../../auth/passwords.js';
import { ROLES, USERNAME_MAX_LENGTH } from '../../auth/users.js';
import { getActor, requirePermission } from '../../server/authentication.js';
import { renderPage, type ConsoleContext, type FormError } from '../context.js';
import { readField, requireConfirmation, toFormError, type FormBody } from '../forms.js';
import { noticeFor } from '../notices.js';
import { registerGroupPages } from './groups.js';
import { registerKeyPage } from './keys.js';

type UserRoute = { Params: { userId: string }; Body: FormBody };

/** A form error and the form it belongs to: `create`, or a user id for the per-user forms. */
type UsersError = (FormError & { form: string }) | null;

/** Registers the administration pages: users, groups and grants, and key management. */
export function registerAdminPages(app: FastifyInstance, context: ConsoleContext): void {
  registerUserPages(app, context);
  registerGroupPages(app, context);
  registerKeyPage(app, context);
}

/** Registers the user list and the forms that create, disable, enable and change the role of users. */
function registerUserPages(app: FastifyInstance, context: ConsoleContext): void {
  const { users } = context.services;
  const manage = { onRequest: requirePermission('people.manage') };

  app.get('/users', { onRequest: requirePermission('people.read') }, async (request, reply) =>
    renderUsers(context, request, reply, null),
  );

  app.post<{ Body: FormBody }>('/users', manage, async (request, reply) =>
    changeUsers(context, request, reply, 'create', 'user-created', async () => {
      await users.create(
        {
          username: readField(request.body, 'username', { min: 1, max: USERNAME_MAX_LENGTH }),
          password: readPassword(request.body),
          role: readField(request.body, 'role', { min: 1, max: 32 }),
        },
        getActor(request),
      );
    }),
  );

  app.post<UserRoute>('/users/:userId/disable', manage, async (request, reply) =>
    changeUsers(context, request, reply, request.params.userId, 'user-changed', async () => {
      requireConfirmation(request.body, 'disable the user and end their sessions');
      await users.setDisabled(request.params.userId, true, getActor(request));
    }),
  );

  app.post<UserRoute>('/users/:userId/enable', manage, async (request, reply) =>
    changeUsers(context, request, reply, request.params.userId, 'user-changed', async () => {
      await users.setDisabled(request.params.userId, false, getActor(request));
    }),
  );

  app.post<UserRoute>('/users/:userId/role', manage, async (request, reply) =>
    changeUsers(context, request, reply, request.params.userId, 'user-changed', async () => {
      const role = readField(request.body, 'role', { min: 1, max: 32 });
      await users.setRole(request.params.userId, role, getActor(request));
    }),
  );
}

/** Reads the password untrimmed: leading and trailing blanks are part of it. */
function readPassword(body: FormBody): string {
  readField(body, 'password', { min: 1, max: PASSWORD_MAX_LENGTH });
  return String(body?.['password']);
}

async function changeUsers(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  form: string,
  notice: string,
  change: () => Promise<void>,
): Promise<FastifyReply> {
  try {
    await change();
    return await reply.redirect(`/console/users?notice=${notice}`, 303);
  } catch (error) {
    const formError = toFormError(error);
    void reply.status(formError.status);
    return renderUsers(context, request, reply, { ...formError, form });
  }
}

async function renderUsers(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  error: UsersError,
): Promise<FastifyReply> {
  return renderPage(request, reply, 'users', {
    title: 'Users',
    nav: 'users',
    users: await context.services.users.list(),
    roles: ROLES,
    error,
    notice: noticeFor(request.query),
  });
}
