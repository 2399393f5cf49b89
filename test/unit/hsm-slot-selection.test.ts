import { describe, expect, it } from 'vitest';
import { isStrongroomError, StrongroomError } from '../../src/errors.js';
import {
  describeTokens,
  selectSlot,
  slotIdOf,
  type SlotEntry,
  type SlotSelector,
} from '../../src/keys/hsm/slot-selection.js';

const CKF_TOKEN_INITIALIZED = 0x400;

function slot(index: number, id: number, label: string | undefined, initialized = true): SlotEntry {
  return {
    index,
    id,
    handle: Buffer.alloc(8),
    description: `slot ${id}`,
    token:
      label === undefined
        ? undefined
        : { label, flags: initialized ? CKF_TOKEN_INITIALIZED : 0, initialized },
  };
}

// A SoftHSM-like module: one token at a random slot ID, the free slot after it, and an empty slot.
const slots = [slot(0, 2108715772, 'pam'), slot(1, 1, '', false), slot(2, 7, undefined)];

function selectError(list: SlotEntry[], selector: SlotSelector): StrongroomError {
  try {
    selectSlot(list, selector);
  } catch (error) {
    if (isStrongroomError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error('selectSlot() succeeded, but an error was expected');
}

describe('selectSlot', () => {
  it('selects by slot ID, index and token label', () => {
    expect(selectSlot(slots, { by: 'id', id: 2108715772 }).index).toBe(0);
    expect(selectSlot(slots, { by: 'index', index: 0 }).id).toBe(2108715772);
    expect(selectSlot(slots, { by: 'tokenLabel', label: 'pam' }).id).toBe(2108715772);
  });

  it('compares token labels without blank padding', () => {
    expect(selectSlot(slots, { by: 'tokenLabel', label: ' pam  ' }).id).toBe(2108715772);
  });

  it('explains a slot ID mix-up', () => {
    const error = selectError(slots, { by: 'id', id: 0 });

    expect(error.code).toBe('SR_HSM_SLOT_NOT_FOUND');
    expect(error.message).toContain(
      "slot 0 does not exist; the token 'pam' is at slot index 0, slot ID 2108715772",
    );
  });

  it('explains an index beyond the slot list', () => {
    const error = selectError(slots, { by: 'index', index: 3 });

    expect(error.code).toBe('SR_HSM_SLOT_NOT_FOUND');
    expect(error.message).toContain('slot index 3 does not exist, because the module has 3 slots');
    expect(error.message).toContain("the token 'pam' is at slot index 0, slot ID 2108715772");
  });

  it('rejects an unknown token label', () => {
    const error = selectError(slots, { by: 'tokenLabel', label: 'vault' });

    expect(error.code).toBe('SR_HSM_TOKEN_NOT_FOUND');
    expect(error.message).toContain("no token is labelled 'vault'");
  });

  it('rejects two tokens with one label', () => {
    const error = selectError([slot(0, 10, 'pam'), slot(1, 11, 'pam')], {
      by: 'tokenLabel',
      label: 'pam',
    });

    expect(error.code).toBe('SR_HSM_TOKEN_AMBIGUOUS');
    expect(error.message).toContain("2 tokens are labelled 'pam' (slot IDs 10, 11)");
  });

  it('rejects an uninitialised token', () => {
    const error = selectError(slots, { by: 'id', id: 1 });

    expect(error.code).toBe('SR_HSM_TOKEN_NOT_INITIALIZED');
    expect(error.message).toContain('the token in slot ID 1 (slot index 1) is not initialised');
  });

  it('rejects a slot without a token', () => {
    const error = selectError(slots, { by: 'index', index: 2 });

    expect(error.code).toBe('SR_HSM_TOKEN_NOT_FOUND');
    expect(error.message).toContain('slot ID 7 (slot index 2) has no token present');
  });
});

describe('describeTokens', () => {
  it('lists every initialised token', () => {
    const text = describeTokens([slot(0, 5, 'a'), slot(1, 6, 'b'), slot(2, 7, '', false)]);

    expect(text).toBe(
      "the token 'a' is at slot index 0, slot ID 5, and the token 'b' is at slot index 1, slot ID 6",
    );
  });

  it('says when no token is initialised', () => {
    expect(describeTokens([slot(0, 1, '', false)])).toBe(
      'none of the 1 slots contains an initialised token',
    );
  });
});

describe('slotIdOf', () => {
  it('reads 8-byte and 4-byte handles', () => {
    const long = Buffer.alloc(8);
    long.writeBigUInt64LE(2108715772n);
    const short = Buffer.alloc(4);
    short.writeUInt32LE(3);

    expect(slotIdOf(long)).toBe(2108715772);
    expect(slotIdOf(short)).toBe(3);
  });
});
