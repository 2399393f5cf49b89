import { isStrongroomError } from '../../../errors.js';
import type { BatchResult } from '../../types.js';
import { isMemberUnreachable } from './member.js';

/**
 * Returns the results of a batch, or throws the first item error that means the member became
 * unreachable, so that the caller runs the whole batch again on the next member. The DEKs of the
 * items that succeeded are zeroed before the throw, because no caller receives them.
 */
export function requireReachable<T>(results: BatchResult<T>[]): BatchResult<T>[] {
  const lost = results.find((result) => !result.ok && isMemberUnreachable(result.error));
  if (lost === undefined || lost.ok) {
    return results;
  }
  for (const result of results) {
    if (result.ok && Buffer.isBuffer(result.value)) {
      result.value.fill(0);
    }
  }
  throw lost.error;
}

/**
 * Turns a batch that no member could serve into one failed result per item, because the provider
 * interface lets a batch throw only for an invalid call. Any other error is raised.
 */
export function failEveryItem<T>(count: number, error: unknown): BatchResult<T>[] {
  if (!isStrongroomError(error, 'SR_HSM_UNAVAILABLE') && !isMemberUnreachable(error)) {
    throw error;
  }
  const failure = error instanceof Error ? error : new Error(String(error));
  return Array.from({ length: count }, () => ({ ok: false as const, error: failure }));
}
