import type { AccessRequestView } from '../../access/types.js';
import type { ConsoleContext } from '../context.js';

/** An access request with the names of its target and account, for display. */
export type NamedRequest = AccessRequestView & { targetName: string; accountName: string };

/** Adds the target and account names to requests, reading each target's accounts once. */
export async function nameRequests(
  context: ConsoleContext,
  requests: AccessRequestView[],
): Promise<NamedRequest[]> {
  const targets = new Map((await context.deps.vault.listTargets()).map((t) => [t.id, t.name]));
  const accounts = new Map<string, string>();
  for (const targetId of new Set(requests.map((item) => item.targetId))) {
    for (const account of await context.deps.vault.listAccounts(targetId)) {
      accounts.set(account.id, account.username);
    }
  }

  return requests.map((item) => ({
    ...item,
    targetName: targets.get(item.targetId) ?? item.targetId,
    accountName: accounts.get(item.accountId) ?? item.accountId,
  }));
}
