import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { bindingTag } from '../../src/keys/hsm/key-wrap.js';
import {
  chooseMechanism,
  chooseWrap,
  isWrapMechanism,
  requireOffered,
} from '../../src/keys/hsm/mechanisms.js';
import { isPortableText } from '../../src/keys/hsm/portable-text.js';

const { CKM_AES_GCM, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_ECB } = pkcs11js;
const slot = "slot ID 5 (slot index 0), token 'pam'";

describe('chooseMechanism', () => {
  it('prefers GCM, then RFC 3394, then CKM_AES_KEY_WRAP_PAD', () => {
    expect(chooseMechanism([CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP, CKM_AES_GCM], slot)).toBe(
      'aes-256-gcm',
    );
    expect(chooseMechanism([CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP], slot)).toBe('aes-key-wrap');
    expect(chooseMechanism([CKM_AES_ECB, CKM_AES_KEY_WRAP_PAD], slot)).toBe('aes-key-wrap-pad');
  });

  it('names the slot and the missing mechanisms', () => {
    expect(() => chooseMechanism([CKM_AES_ECB], slot)).toThrow(
      `${slot} offers neither CKM_AES_GCM nor AES key wrap (CKM_AES_KEY_WRAP or CKM_AES_KEY_WRAP_PAD).`,
    );
  });

  it('points a token with only ECB at strongroom.hsm.keyWrap', () => {
    expect(() => chooseMechanism([CKM_AES_ECB], slot)).toThrow(
      'set strongroom.hsm.keyWrap = ecb-rfc3394 in security.properties',
    );
    expect(() => chooseMechanism([], slot)).not.toThrow(/keyWrap/);
  });
});

describe('chooseWrap', () => {
  it('uses ECB key wrap only as a fallback', () => {
    expect(chooseWrap([CKM_AES_ECB], slot, 'ecb-rfc3394')).toEqual({
      mechanism: 'aes-key-wrap',
      keyWrap: 'ecb-rfc3394',
    });
    expect(chooseWrap([CKM_AES_ECB, CKM_AES_KEY_WRAP_PAD], slot, 'ecb-rfc3394')).toEqual({
      mechanism: 'aes-key-wrap',
      keyWrap: 'ecb-rfc3394',
    });
  });

  it("prefers the token's own mechanisms", () => {
    expect(chooseWrap([CKM_AES_ECB, CKM_AES_GCM], slot, 'ecb-rfc3394')).toEqual({
      mechanism: 'aes-256-gcm',
      keyWrap: 'token',
    });
    expect(chooseWrap([CKM_AES_ECB, CKM_AES_KEY_WRAP], slot, 'ecb-rfc3394')).toEqual({
      mechanism: 'aes-key-wrap',
      keyWrap: 'token',
    });
  });

  it('never picks ECB without the setting', () => {
    expect(() => chooseWrap([CKM_AES_ECB], slot, 'token')).toThrow(
      expect.objectContaining({ code: 'SR_HSM_MECHANISM_UNSUPPORTED' }),
    );
  });

  it('rejects the setting on a token without ECB', () => {
    expect(() => chooseWrap([], slot, 'ecb-rfc3394')).toThrow(
      `strongroom.hsm.keyWrap is ecb-rfc3394, but ${slot} offers neither CKM_AES_GCM, CKM_AES_KEY_WRAP nor CKM_AES_ECB.`,
    );
  });
});

describe('requireOffered', () => {
  it('rejects a record whose mechanism the token lacks', () => {
    expect(() => requireOffered('aes-256-gcm', [CKM_AES_KEY_WRAP], slot)).toThrow(
      `the DEK was wrapped with aes-256-gcm, but ${slot} does not offer CKM_AES_GCM.`,
    );
    expect(() => requireOffered('aes-key-wrap', [CKM_AES_KEY_WRAP], slot)).not.toThrow();
  });
});

describe('isWrapMechanism', () => {
  it('accepts only the three stored names', () => {
    expect(isWrapMechanism('aes-key-wrap-pad')).toBe(true);
    expect(isWrapMechanism('aes-256-cbc')).toBe(false);
  });
});

describe('bindingTag', () => {
  it('is HMAC-SHA256 keyed with the DEK over the associated data', () => {
    // RFC 4231 section 4.2, test case 1: key 0x0b * 20, data "Hi There".
    const tag = bindingTag(Buffer.alloc(20, 0x0b), Buffer.from('Hi There'));

    expect(tag.toString('hex')).toBe(
      'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    );
  });
});

describe('isPortableText', () => {
  it('accepts printable ASCII only', () => {
    expect(isPortableText('pam-master-key 01')).toBe(true);
    expect(isPortableText('schlüssel')).toBe(false);
    expect(isPortableText('tab\there')).toBe(false);
  });
});
