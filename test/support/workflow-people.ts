import { randomBytes } from 'node:crypto';

import { expect } from 'vitest';

import { runCli } from './cli.js';
import {
  configureTargetAccess,
  enrolAndLogin,
  fetchClient,
  grantAccess,
  type ApiCall,
  type GrantParties,
} from './people.js';

/**
 * The users a service test needs for the access workflow: an administrator, an operator who
 * reveals and an approver. Each enrols TOTP once. Their sessions are rows in the database, so the
 * tokens stay valid across restarts of the service for 8 hours.
 */
export const WORKFLOW_USERS = {
  admin: 'administrator',
  olga: 'operator',
  abel: 'approver',
} as const;

export type WorkflowUser = keyof typeof WORKFLOW_USERS;

/** Random passwords for the workflow users, made once per test file. */
export function workflowPasswords(): Record<WorkflowUser, string> {
  const password = (name: string) => `${name}-${randomBytes(9).toString('base64url')}`;
  return { admin: password('admin'), olga: password('olga'), abel: password('abel') };
}

/** Adds the workflow users with `strongroom user add`, as an administrator would. */
export async function addWorkflowUsers(
  home: string,
  passwords: Record<WorkflowUser, string>,
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  for (const [username, role] of Object.entries(WORKFLOW_USERS)) {
    const result = await runCli(
      ['user', 'add', '--home', home, '--username', username, '--role', role],
      { input: `${passwords[username as WorkflowUser]}\n`, env },
    );
    expect(result.code, result.stderr).toBe(0);
  }
}

export interface WorkflowSessions {
  call: ApiCall;
  parties: GrantParties;
}

/** Enrols TOTP for each workflow user and logs them in on the running service at `baseUrl`. */
export async function startWorkflowSessions(
  baseUrl: string,
  passwords: Record<WorkflowUser, string>,
): Promise<WorkflowSessions> {
  const call = fetchClient(baseUrl);
  const tokens = {} as Record<WorkflowUser, string>;
  for (const username of Object.keys(WORKFLOW_USERS) as WorkflowUser[]) {
    tokens[username] = (await enrolAndLogin(call, username, passwords[username], new Date())).token;
  }

  const users = await call('GET', '/api/v1/users', { token: tokens.admin });
  const idOf = (name: string) =>
    (users.json.users as Array<{ id: string; username: string }>).find(
      (user) => user.username === name,
    )!.id;
  return {
    call,
    parties: {
      admin: tokens.admin,
      operator: tokens.olga,
      operatorId: idOf('olga'),
      approver: tokens.abel,
      approverId: idOf('abel'),
    },
  };
}

/** Lets the operator reveal each account: grant, policy, one approved request per account. */
export async function grantRevealAccess(
  sessions: WorkflowSessions,
  targetId: string,
  accountIds: Iterable<string>,
): Promise<void> {
  await configureTargetAccess(sessions.call, sessions.parties, targetId);
  for (const accountId of accountIds) {
    await grantAccess(sessions.call, sessions.parties, accountId, 8 * 3600);
  }
}
