import pkcs11js from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';

/**
 * Key wrap mode (strongroom.hsm.keyWrap): `token` uses the token's own mechanisms, and
 * `ecb-rfc3394` computes RFC 3394 in Strongroom over the token's CKM_AES_ECB.
 */
export type KeyWrapMode = 'token' | 'ecb-rfc3394';

/** The way a connection wraps new DEKs: the mechanism that each DEK row records, and who computes it. */
export interface WrapChoice {
  mechanism: WrapMechanism;
  keyWrap: KeyWrapMode;
}

/** The PKCS#11 mechanism behind each way of wrapping a DEK. */
export const mechanismCodes: Readonly<Record<WrapMechanism, number>> = {
  'aes-256-gcm': pkcs11js.CKM_AES_GCM,
  'aes-key-wrap-pad': pkcs11js.CKM_AES_KEY_WRAP_PAD,
  'aes-key-wrap': pkcs11js.CKM_AES_KEY_WRAP,
};

/** The PKCS#11 constant name of each mechanism, for messages. */
export const mechanismNames: Readonly<Record<WrapMechanism, string>> = {
  'aes-256-gcm': 'CKM_AES_GCM',
  'aes-key-wrap-pad': 'CKM_AES_KEY_WRAP_PAD',
  'aes-key-wrap': 'CKM_AES_KEY_WRAP',
};

/**
 * Order of preference. GCM binds the associated data itself. RFC 3394 key wrap comes before
 * CKM_AES_KEY_WRAP_PAD because a DEK is 32 bytes, a multiple of 8, so it needs no padding, and
 * tokens disagree on what CKM_AES_KEY_WRAP_PAD computes: RFC 5649, or PKCS#7 padding followed by
 * RFC 3394. SoftHSM 2.6.1 zero-pads the key to a multiple of 8 bytes and then applies RFC 5649,
 * which for a 32-byte DEK equals RFC 5649. A record made with it opens reliably only on tokens
 * of the same kind.
 */
const preference: readonly WrapMechanism[] = ['aes-256-gcm', 'aes-key-wrap', 'aes-key-wrap-pad'];

/** Tells whether a mechanism is one of the three that Strongroom wraps DEKs with. */
export function isWrapMechanism(value: string): value is WrapMechanism {
  return (preference as readonly string[]).includes(value);
}

/** Tells whether a mechanism uses C_WrapKey and C_UnwrapKey, as opposed to C_Encrypt and C_Decrypt. */
export function isKeyWrap(mechanism: WrapMechanism): boolean {
  return mechanism !== 'aes-256-gcm';
}

/**
 * Picks the mechanism for new DEKs from the token's mechanism list (C_GetMechanismList). `slot`
 * describes the slot and token for the error message.
 */
export function chooseMechanism(offered: readonly number[], slot: string): WrapMechanism {
  const chosen = preference.find((mechanism) => offered.includes(mechanismCodes[mechanism]));
  if (chosen === undefined) {
    const ecbHint = offered.includes(pkcs11js.CKM_AES_ECB)
      ? ' It offers CKM_AES_ECB, as p11-kit 0.24 passes it on: to compute key wrap over it, set strongroom.hsm.keyWrap = ecb-rfc3394 in security.properties.'
      : '';
    throw new StrongroomError(
      'SR_HSM_MECHANISM_UNSUPPORTED',
      `${slot} offers neither CKM_AES_GCM nor AES key wrap (CKM_AES_KEY_WRAP or CKM_AES_KEY_WRAP_PAD). ` +
        `Enable one of them on the token (for SoftHSM, slots.mechanisms in softhsm2.conf) or use another token.${ecbHint}`,
    );
  }
  return chosen;
}

/**
 * Picks how new DEKs are wrapped. The `ecb-rfc3394` setting takes effect only when the token offers
 * neither CKM_AES_GCM nor CKM_AES_KEY_WRAP, so a token's own mechanism always wins. It then records
 * 'aes-key-wrap', because its output is identical to CKM_AES_KEY_WRAP's.
 */
export function chooseWrap(
  offered: readonly number[],
  slot: string,
  setting: KeyWrapMode,
): WrapChoice {
  const tokenWraps =
    offered.includes(pkcs11js.CKM_AES_GCM) || offered.includes(pkcs11js.CKM_AES_KEY_WRAP);
  if (setting === 'token' || tokenWraps) {
    return { mechanism: chooseMechanism(offered, slot), keyWrap: 'token' };
  }

  if (!offered.includes(pkcs11js.CKM_AES_ECB)) {
    throw new StrongroomError(
      'SR_HSM_MECHANISM_UNSUPPORTED',
      `strongroom.hsm.keyWrap is ecb-rfc3394, but ${slot} offers neither CKM_AES_GCM, CKM_AES_KEY_WRAP nor CKM_AES_ECB. ` +
        `Enable one of them on the token, or reach the token through a path that passes them on.`,
    );
  }
  return { mechanism: 'aes-key-wrap', keyWrap: 'ecb-rfc3394' };
}

/**
 * Checks that the token offers the mechanism that a stored DEK was wrapped with. Unwrapping uses
 * the mechanism the DEK row names, which can differ from the one chosen for new DEKs.
 */
export function requireOffered(
  mechanism: WrapMechanism,
  offered: readonly number[],
  slot: string,
): void {
  if (offered.includes(mechanismCodes[mechanism])) {
    return;
  }
  throw new StrongroomError(
    'SR_HSM_MECHANISM_UNSUPPORTED',
    `the DEK was wrapped with ${mechanism}, but ${slot} does not offer ${mechanismNames[mechanism]}. ` +
      `Enable it on the token, or open this DEK through a path that offers it.`,
    { details: { mechanism } },
  );
}
