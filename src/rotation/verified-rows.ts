import type { WrapMechanism } from '../keys/types.js';
import type { DekRecord } from '../store/repositories.js';

/**
 * The wrapped bytes of the DEKs that this run re-wrapped and opened again under the target before
 * writing them. The verify pass compares each stored row with them: a row whose mechanism and bytes
 * are the ones that opened needs no second HSM call, and any other row under the target is opened
 * on the HSM. The bytes are kept whole, as a string of one character per byte, because that is
 * cheaper to compare than a digest is to compute. In a trial, 100,000 rows took about 16 MB besides
 * their ids.
 */
export class VerifiedRows {
  readonly #rows = new Map<string, { mechanism: WrapMechanism; bytes: string }>();

  /** Records that the DEK `id` opened under the target with these bytes. */
  add(id: string, mechanism: WrapMechanism, wrapped: Buffer): void {
    this.#rows.set(id, { mechanism, bytes: wrapped.toString('latin1') });
  }

  /** Forgets DEKs whose write failed or was skipped, so that the verify pass opens them. */
  remove(ids: Iterable<string>): void {
    for (const id of ids) {
      this.#rows.delete(id);
    }
  }

  /** Tells whether the stored row carries exactly the mechanism and bytes that opened. */
  matches(record: DekRecord): boolean {
    const expected = this.#rows.get(record.id);
    return (
      expected !== undefined &&
      expected.mechanism === record.mechanism &&
      expected.bytes.length === record.wrapped.length &&
      expected.bytes === record.wrapped.toString('latin1')
    );
  }

  get size(): number {
    return this.#rows.size;
  }
}
