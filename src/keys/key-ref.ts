import type { MasterKeyRef } from './types.js';

/** Tells whether two references name the same master key: provider, key id and check value. */
export function sameKey(left: MasterKeyRef, right: MasterKeyRef): boolean {
  return left.provider === right.provider && left.keyId === right.keyId && left.kcv === right.kcv;
}
