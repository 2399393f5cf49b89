import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { getActor, requirePermission } from '../../server/authentication.js';
import { renderPage, type ConsoleContext, type FormError } from '../context.js';
import { readField, toFormError, type FormBody } from '../forms.js';
import { noticeFor } from '../notices.js';

type GroupRoute = { Params: { groupId: string }; Body: FormBody };

/**
 * Registers the group page: groups with their members, the targets each group is granted, and
 * the forms that create groups, change members and grant or revoke targets.
 */
export function registerGroupPages(app: FastifyInstance, context: ConsoleContext): void {
  const { groups } = context.services.access;
  const manage = { onRequest: requirePermission('people.manage') };

  app.get('/groups', { onRequest: requirePermission('people.read') }, async (request, reply) =>
    renderGroups(context, request, reply, null),
  );

  app.post<{ Body: FormBody }>('/groups', manage, async (request, reply) =>
    changeGroups(context, request, reply, 'create', 'group-created', async () => {
      await groups.createGroup(
        {
          name: readField(request.body, 'name', { min: 1, max: 200, printable: true }),
          description: readField(request.body, 'description', { max: 2000 }),
        },
        getActor(request),
      );
    }),
  );

  app.post<GroupRoute>('/groups/:groupId/members', manage, async (request, reply) =>
    changeGroups(context, request, reply, request.params.groupId, 'group-changed', async () => {
      const userId = readField(request.body, 'userId', { min: 1, max: 64 });
      const actor = getActor(request);
      await (request.body?.['change'] === 'remove'
        ? groups.removeMember(request.params.groupId, userId, actor)
        : groups.addMember(request.params.groupId, userId, actor));
    }),
  );

  app.post<GroupRoute>('/groups/:groupId/grants', manage, async (request, reply) =>
    changeGroups(context, request, reply, request.params.groupId, 'group-changed', async () => {
      const targetId = readField(request.body, 'targetId', { min: 1, max: 64 });
      const actor = getActor(request);
      await (request.body?.['change'] === 'revoke'
        ? groups.revokeGrant(targetId, request.params.groupId, actor)
        : groups.grantTarget(targetId, request.params.groupId, actor));
    }),
  );
}

async function changeGroups(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  form: string,
  notice: string,
  change: () => Promise<void>,
): Promise<FastifyReply> {
  try {
    await change();
    return await reply.redirect(`/console/groups?notice=${notice}`, 303);
  } catch (error) {
    const formError = toFormError(error);
    void reply.status(formError.status);
    return renderGroups(context, request, reply, { ...formError, form });
  }
}

async function renderGroups(
  context: ConsoleContext,
  request: FastifyRequest,
  reply: FastifyReply,
  error: (FormError & { form: string }) | null,
): Promise<FastifyReply> {
  const { groups } = context.services.access;
  const users = await context.services.users.list();
  const targets = await context.deps.vault.listTargets();
  const userNames = new Map(users.map((user) => [user.id, user.username]));

  const grantedTargets = new Map<string, { id: string; name: string }[]>();
  for (const target of targets) {
    for (const groupId of await groups.listGrants(target.id)) {
      grantedTargets.set(groupId, [...(grantedTargets.get(groupId) ?? []), target]);
    }
  }

  const rows = (await groups.listGroups()).map((group) => ({
    ...group,
    members: group.memberIds.map((id) => ({ id, username: userNames.get(id) ?? id })),
    targets: grantedTargets.get(group.id) ?? [],
  }));
  return renderPage(request, reply, 'groups', {
    title: 'Groups and grants',
    nav: 'groups',
    groups: rows,
    users,
    targets,
    error,
    notice: noticeFor(request.query),
  });
}
