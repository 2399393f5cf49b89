import { hash } from 'node:crypto';

import type { WrapMechanism } from '../keys/types.js';
import type { DekRecord } from '../store/repositories.js';

/**
 * Digests of the DEKs that this run re-wrapped and opened again under the target before writing
 * them. The verify pass compares each stored row with its digest: a row whose mechanism and bytes
 * are the ones that opened needs no second HSM call, and any other row under the target is opened
 * on the HSM. A digest is the mechanism and 16 bytes of SHA-256, so 100,000 rows take about 20 MB.
 */
export class VerifiedRows {
  readonly #digests = new Map<string, string>();

  /** Records that the DEK `id` opened under the target with these bytes. */
  add(id: string, mechanism: WrapMechanism, wrapped: Buffer): void {
    this.#digests.set(id, digest(mechanism, wrapped));
  }

  /** Forgets DEKs whose write failed or was skipped, so that the verify pass opens them. */
  remove(ids: Iterable<string>): void {
    for (const id of ids) {
      this.#digests.delete(id);
    }
  }

  /** Tells whether the stored row carries exactly the mechanism and bytes that opened. */
  matches(record: DekRecord): boolean {
    const expected = this.#digests.get(record.id);
    return expected !== undefined && expected === digest(record.mechanism, record.wrapped);
  }

  get size(): number {
    return this.#digests.size;
  }
}

function digest(mechanism: WrapMechanism, wrapped: Buffer): string {
  return `${mechanism}:${hash('sha256', wrapped, 'base64').slice(0, 22)}`;
}
