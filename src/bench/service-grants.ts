import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createAccessWorkflow, DEFAULT_ACCESS_SETTINGS } from '../access/index.js';
import type { AuditLog } from '../audit/types.js';
import { createUser, type Role } from '../auth/users.js';
import type { Store } from '../store/repositories.js';
import type { Actor, VaultService } from '../vault/types.js';

/** Access period of the seeded grants: 8 hours, the default policy maximum and far past a run. */
const GRANT_SECONDS = 8 * 3600;

/** The users of a benchmark home and their passwords. */
export interface BenchUsers {
  admin: { username: string; password: string };
  operator: { username: string; password: string };
}

/**
 * Creates the users that the access workflow needs for reveals (an administrator, an operator who
 * reveals and an approver), grants the operator's group `targetId` under a one-approval policy,
 * and gives the operator an approved request for each account. The steps run through the access
 * workflow in this process, so each leaves the audit events the API would leave.
 */
export async function seedRevealGrants(options: {
  store: Store;
  vault: VaultService;
  audit: AuditLog;
  logger: Logger;
  targetId: string;
  accountIds: readonly string[];
  concurrency: number;
}): Promise<BenchUsers> {
  const { store } = options;
  const workflow = createAccessWorkflow({
    groups: store.groups,
    access: store.access,
    users: store.users,
    vault: store.vault,
    secrets: options.vault,
    audit: options.audit,
    logger: options.logger,
    settings: DEFAULT_ACCESS_SETTINGS,
    now: () => new Date(),
  });

  const admin = await addUser(store, 'bench-admin', 'administrator');
  const operator = await addUser(store, 'bench-operator', 'operator');
  const approver = await addUser(store, 'bench-approver', 'approver');

  const operators = await workflow.groups.createGroup(
    { name: 'bench-operators', description: '' },
    admin.actor,
  );
  const approvers = await workflow.groups.createGroup(
    { name: 'bench-approvers', description: '' },
    admin.actor,
  );
  await workflow.groups.addMember(operators.id, operator.actor.userId, admin.actor);
  await workflow.groups.addMember(approvers.id, approver.actor.userId, admin.actor);
  await workflow.groups.grantTarget(options.targetId, operators.id, admin.actor);
  await workflow.groups.setPolicy(
    options.targetId,
    { approverGroupId: approvers.id, approvalsRequired: 1, maxDurationSeconds: GRANT_SECONDS },
    admin.actor,
  );

  let next = 0;
  const grantNext = async (): Promise<void> => {
    while (next < options.accountIds.length) {
      const accountId = options.accountIds[next++]!;
      const request = await workflow.requests.create(
        { accountId, reason: 'benchmark load', durationSeconds: GRANT_SECONDS },
        operator.actor,
      );
      await workflow.requests.approve(request.id, 'benchmark', approver.actor);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, grantNext));

  return {
    admin: { username: admin.actor.username, password: admin.password },
    operator: { username: operator.actor.username, password: operator.password },
  };
}

async function addUser(
  store: Store,
  username: string,
  role: Role,
): Promise<{ actor: Actor; password: string }> {
  const password = `bench-${randomBytes(12).toString('base64url')}`;
  const user = await createUser(store, { username, password, role });
  return { actor: { userId: user.id, username, role, clientAddress: '127.0.0.1' }, password };
}
