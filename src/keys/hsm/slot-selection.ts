import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import { callPkcs11 } from './pkcs11-failures.js';

/** CK_SLOT_INFO flag: a token is in the slot (PKCS#11 v2.40). pkcs11js 2.1.7 exports it, but its typings omit it. */
const CKF_TOKEN_PRESENT = 0x1;

/**
 * Slot selection from the configuration: by slot ID (SunPKCS11 `slot`), by position in the slot
 * list (`slotListIndex`) or by the label of the token in it (`tokenLabel`).
 */
export type SlotSelector =
  { by: 'id'; id: number } | { by: 'index'; index: number } | { by: 'tokenLabel'; label: string };

/** One entry of C_GetSlotList(false), with the token in it if one is present. */
export interface SlotEntry {
  index: number;
  id: number;
  handle: Buffer;
  description: string;
  token: { label: string; flags: number; initialized: boolean } | undefined;
}

/**
 * Lists every slot of the module in C_GetSlotList order, which is the order that slot indexes
 * count in (as in pkcs11-tool --list-slots). Token labels are trimmed of their blank padding.
 */
export function listSlots(pkcs11: PKCS11): SlotEntry[] {
  const handles = callPkcs11('C_GetSlotList', () => pkcs11.C_GetSlotList(false));
  return handles.map((handle, index) => {
    const info = callPkcs11('C_GetSlotInfo', () => pkcs11.C_GetSlotInfo(handle));
    const present = (info.flags & CKF_TOKEN_PRESENT) !== 0;
    return {
      index,
      id: slotIdOf(handle),
      handle,
      description: info.slotDescription.trim(),
      token: present ? readToken(pkcs11, handle) : undefined,
    };
  });
}

function readToken(pkcs11: PKCS11, handle: Buffer): SlotEntry['token'] {
  try {
    const info = pkcs11.C_GetTokenInfo(handle);
    return {
      label: info.label.trim(),
      flags: info.flags,
      initialized: (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0,
    };
  } catch {
    // A token that the library cannot read (CKR_TOKEN_NOT_RECOGNIZED) is listed as absent, so that
    // it cannot block the selection of another slot.
    return undefined;
  }
}

/** Converts a slot handle (a CK_SLOT_ID in native byte order) to the number that tools print. */
export function slotIdOf(handle: Buffer): number {
  return handle.length >= 8 ? Number(handle.readBigUInt64LE(0)) : handle.readUInt32LE(0);
}

/**
 * Picks the slot that the selector names and checks that it contains an initialised token. Every
 * error explains where the tokens actually are, since slot IDs, indexes and labels are easy to mix
 * up (SoftHSM assigns random slot IDs, Utimaco numbers its slots 0 to 9).
 */
export function selectSlot(slots: readonly SlotEntry[], selector: SlotSelector): SlotEntry {
  const slot = findSlot(slots, selector);

  if (slot.token === undefined) {
    throw new StrongroomError(
      'SR_HSM_TOKEN_NOT_FOUND',
      `${describeSlot(slot)} has no token present; ${describeTokens(slots)}. Select the slot that contains the token.`,
      { details: { slotId: slot.id, slotIndex: slot.index } },
    );
  }

  if (!slot.token.initialized) {
    throw new StrongroomError(
      'SR_HSM_TOKEN_NOT_INITIALIZED',
      `the token in ${describeSlot(slot)} is not initialised; ${describeTokens(slots)}. ` +
        `Select the slot of an initialised token, or initialise this one (softhsm2-util --init-token for SoftHSM, or the HSM vendor's tool).`,
      { details: { slotId: slot.id, slotIndex: slot.index } },
    );
  }
  return slot;
}

function findSlot(slots: readonly SlotEntry[], selector: SlotSelector): SlotEntry {
  if (selector.by === 'id') {
    const slot = slots.find((entry) => entry.id === selector.id);
    if (slot === undefined) {
      throw new StrongroomError(
        'SR_HSM_SLOT_NOT_FOUND',
        `slot ${selector.id} does not exist; ${describeTokens(slots)}. Set slot to the slot ID of the token, or select it with slotListIndex or tokenLabel.`,
        { details: { slotId: selector.id } },
      );
    }
    return slot;
  }

  if (selector.by === 'index') {
    const slot = slots[selector.index];
    if (slot === undefined) {
      throw new StrongroomError(
        'SR_HSM_SLOT_NOT_FOUND',
        `slot index ${selector.index} does not exist, because the module has ${slots.length} slots; ${describeTokens(slots)}. ` +
          `Set slotListIndex to the index of the token, or select it with slot or tokenLabel.`,
        { details: { slotIndex: selector.index } },
      );
    }
    return slot;
  }

  return findSlotByTokenLabel(slots, selector.label);
}

function findSlotByTokenLabel(slots: readonly SlotEntry[], label: string): SlotEntry {
  const trimmedLabel = label.trim();
  const matches = slots.filter(
    (entry) => entry.token?.initialized === true && entry.token.label === trimmedLabel,
  );
  const [first] = matches;

  if (first === undefined) {
    throw new StrongroomError(
      'SR_HSM_TOKEN_NOT_FOUND',
      `no token is labelled '${trimmedLabel}'; ${describeTokens(slots)}. Set tokenLabel to the label of the token.`,
      { details: { tokenLabel: trimmedLabel } },
    );
  }

  if (matches.length > 1) {
    const ids = matches.map((entry) => entry.id).join(', ');
    throw new StrongroomError(
      'SR_HSM_TOKEN_AMBIGUOUS',
      `${matches.length} tokens are labelled '${trimmedLabel}' (slot IDs ${ids}). Select one with slot, or give the tokens different labels.`,
      { details: { tokenLabel: trimmedLabel, count: matches.length } },
    );
  }
  return first;
}

/** Describes a slot as tools print it: "slot ID 2108715772 (slot index 0)". */
export function describeSlot(slot: SlotEntry): string {
  return `slot ID ${slot.id} (slot index ${slot.index})`;
}

/** Describes where the initialised tokens are, for error messages. */
export function describeTokens(slots: readonly SlotEntry[]): string {
  const tokens = slots.filter((entry) => entry.token?.initialized === true);
  if (tokens.length === 0) {
    return `none of the ${slots.length} slots contains an initialised token`;
  }
  return tokens
    .map(
      (entry) =>
        `the token '${entry.token?.label ?? ''}' is at slot index ${entry.index}, slot ID ${entry.id}`,
    )
    .join(', and ');
}
