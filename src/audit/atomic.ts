import type { AuditedScope, AuditLog } from './types.js';

/** Repositories a service uses, each a subset of the one of the same name in a transaction. */
type RepositorySubset = { [K in keyof Omit<AuditedScope, 'audit'>]?: Partial<AuditedScope[K]> };

/**
 * Runs `work` on the repositories and audit log of one transaction, so a change and its events
 * commit together or not at all. An audit log without `atomically` (a test double over a store
 * without transactions) runs `work` on `fallback` and itself, which does not roll back.
 */
export function runAudited<S extends RepositorySubset, T>(
  audit: AuditLog,
  fallback: S,
  work: (scope: S & { audit: AuditLog }) => Promise<T>,
): Promise<T> {
  if (audit.atomically !== undefined) {
    // Each repository of the transaction implements the whole interface, of which S picks a part.
    return audit.atomically((scope) => work(scope as unknown as S & { audit: AuditLog }));
  }
  return work({ ...fallback, audit });
}
