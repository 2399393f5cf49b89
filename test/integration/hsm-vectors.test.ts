import { createCipheriv, createHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aesKeyCheckValue } from '../../src/crypto/key-check-value.js';
import {
  computeEcbCheckValue,
  deriveCheckValueByKeyWrap,
  finalizeModule,
  gcmDecrypt,
  gcmEncrypt,
  hsmLogFromPino,
  initializeModule,
  listSlots,
  loadModule,
  loginUser,
  selectSlot,
} from '../../src/keys/hsm/index.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

/**
 * NIST CAVP AES-GCM vectors from gcmtestvectors.zip (SP 800-38D, GCMVS),
 * https://csrc.nist.gov/Projects/Cryptographic-Algorithm-Validation-Program/CAVP-TESTING-BLOCK-CIPHER-MODES#GCMVS
 * File gcmEncryptExtIV256.rsp, sections [Keylen = 256] [IVlen = 96] [Taglen = 128].
 */
const gcmVectors = [
  {
    name: '[PTlen = 128] [AADlen = 128] Count = 0',
    key: '92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b',
    iv: 'ac93a1a6145299bde902f21a',
    plaintext: '2d71bcfa914e4ac045b2aa60955fad24',
    aad: '1e0889016f67601c8ebea4943bc23ad6',
    ciphertext: '8995ae2e6df3dbf96fac7b7137bae67f',
    tag: 'eca5aa77d51d4a0a14d9c51e1da474ab',
  },
  {
    name: '[PTlen = 128] [AADlen = 128] Count = 1',
    key: '7da3bccaffb3464178ca7c722379836db50ce0bfb47640b9572163865332e486',
    iv: 'c04fd2e701c3dc62b68738b3',
    plaintext: 'fd671cab1ee21f0df6bb610bf94f0e69',
    aad: 'fec0311013202e4ffdc4204926ae0ddf',
    ciphertext: '6be61b17b7f7d494a7cdf270562f37ba',
    tag: '5e702a38323fe1160b780d17adad3e96',
  },
  {
    name: '[PTlen = 128] [AADlen = 128] Count = 2',
    key: 'a359b9584beec189527f8842dda6b6d4c6a5db2f889635715fa3bcd7967c0a71',
    iv: '8616c4cde11b34a944caba32',
    plaintext: '33a46b7539d64c6e1bdb91ba221e3007',
    aad: 'e1796fca20cb3d3ab0ade69b2a18891e',
    ciphertext: 'b0d316e95f3f3390ba10d0274965c62b',
    tag: 'aeaedcf8a012cc32ef25a62790e9334c',
  },
];

/**
 * NIST CAVP gcmDecrypt256.rsp, [Keylen = 256] [IVlen = 96] [PTlen = 128] [AADlen = 128]
 * [Taglen = 128], Count = 2 and Count = 4: both are marked FAIL, so decryption must fail.
 */
const gcmFailVectors = [
  {
    name: 'gcmDecrypt256 Count = 2',
    key: '9a0343f850a6427120f764789ffec6d237447b898fbf51d2182f065d3861497d',
    iv: '3deef6f453dd70d92143adcd',
    aad: 'dbb8226a624520863db6897017b2a4f8',
    ciphertext: 'e93165935ac18e3a2845d15fe31a9286',
    tag: 'f5fc50d18766bc3d9e16dd136d45816b',
  },
  {
    name: 'gcmDecrypt256 Count = 4',
    key: '2a765ceac97265c15209eea90bea85cd9586b972160502ff592a306dc017e6b9',
    iv: '62c545d9d4e3c7acb66b4bf1',
    aad: '7d12474e23dc233bc6312d4d5b2deee4',
    ciphertext: 'ae0594a7b66d3a958e4e6212d3288f91',
    tag: 'ec9aa846d185cc0f43d392240cd6e2c4',
  },
];

/** RFC 3394 section 4.6: wrap 256 bits of key data with a 256-bit KEK. */
const rfc3394Vector = {
  kek: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  keyData: '00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f',
  wrapped: '28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21',
};

/** RFC 5649 section 6: wrap 20 octets and 7 octets of key data with a 192-bit KEK. */
const rfc5649Vectors = [
  {
    name: '20 octets',
    kek: '5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8',
    keyData: 'c37b7e6492584340bed12207808941155068f738',
    wrapped: '138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a',
  },
  {
    name: '7 octets',
    kek: '5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8',
    keyData: '466f7250617369',
    wrapped: 'afbeb0f07dfbf5419200f2ccb50bb24f',
  },
];

const available = softHsmAvailable();

describe.skipIf(!available)('known-answer tests through SoftHSM', () => {
  let fixture: SoftHsmFixture;
  let module: PKCS11;
  let session: Buffer;
  const log = hsmLogFromPino(createMemoryLogger().logger);

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    module = loadModule(fixture.library);
    initializeModule(module, fixture.library, log);
    const slot = selectSlot(listSlots(module), { by: 'tokenLabel', label: fixture.tokenLabel });
    session = module.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION);
    loginUser(
      module,
      session,
      fixture.userPin,
      { label: fixture.tokenLabel, flags: slot.token?.flags ?? 0 },
      log,
    );
  });

  afterAll(async () => {
    if (module !== undefined) {
      module.C_CloseSession(session);
      finalizeModule(module, fixture.library, log);
    }
    await fixture?.cleanup();
  });

  /** Imports a key as a session object, as the provider imports a DEK for key wrap. */
  function importKey(value: Buffer, keyType: number): Buffer {
    return module.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_VALUE, value },
    ]);
  }

  for (const vector of gcmVectors) {
    it(`encrypts NIST GCM vector ${vector.name}`, async () => {
      const key = importKey(hex(vector.key), pkcs11js.CKK_AES);

      const sealed = await gcmEncrypt(
        module,
        session,
        key,
        hex(vector.iv),
        hex(vector.plaintext),
        hex(vector.aad),
      );

      expect(sealed.toString('hex')).toBe(vector.ciphertext + vector.tag);
      module.C_DestroyObject(session, key);
    });

    it(`decrypts NIST GCM vector ${vector.name}`, async () => {
      const key = importKey(hex(vector.key), pkcs11js.CKK_AES);

      const plaintext = await gcmDecrypt(
        module,
        session,
        key,
        hex(vector.iv),
        hex(vector.ciphertext + vector.tag),
        hex(vector.aad),
      );

      expect(plaintext.toString('hex')).toBe(vector.plaintext);
      module.C_DestroyObject(session, key);
    });
  }

  for (const vector of gcmFailVectors) {
    it(`rejects NIST GCM vector ${vector.name}`, async () => {
      const key = importKey(hex(vector.key), pkcs11js.CKK_AES);

      const result = gcmDecrypt(
        module,
        session,
        key,
        hex(vector.iv),
        hex(vector.ciphertext + vector.tag),
        hex(vector.aad),
      );

      await expect(result).rejects.toThrow(/^CKR_/);
      module.C_DestroyObject(session, key);
    });
  }

  it('wraps and unwraps the RFC 3394 section 4.6 vector', () => {
    const kek = importKey(hex(rfc3394Vector.kek), pkcs11js.CKK_AES);
    const keyData = importKey(hex(rfc3394Vector.keyData), pkcs11js.CKK_GENERIC_SECRET);

    const wrapped = module.C_WrapKey(
      session,
      { mechanism: pkcs11js.CKM_AES_KEY_WRAP },
      kek,
      keyData,
      Buffer.alloc(64),
    );
    const unwrapped = unwrapToValue(kek, pkcs11js.CKM_AES_KEY_WRAP, hex(rfc3394Vector.wrapped));

    expect(wrapped.toString('hex')).toBe(rfc3394Vector.wrapped);
    expect(unwrapped.toString('hex')).toBe(rfc3394Vector.keyData);
    module.C_DestroyObject(session, keyData);
    module.C_DestroyObject(session, kek);
  });

  for (const vector of rfc5649Vectors) {
    it(`unwraps the RFC 5649 vector of ${vector.name}`, () => {
      const kek = importKey(hex(vector.kek), pkcs11js.CKK_AES);

      const unwrapped = unwrapToValue(kek, pkcs11js.CKM_AES_KEY_WRAP_PAD, hex(vector.wrapped));

      expect(unwrapped.toString('hex')).toBe(vector.keyData);
      module.C_DestroyObject(session, kek);
    });

    // SoftHSM 2.6.1 zero-pads key data to a multiple of 8 bytes before it applies RFC 5649, so
    // its output differs from RFC 5649 for these two lengths. This test passes while it fails.
    it.fails(`wraps the RFC 5649 vector of ${vector.name} (SoftHSM 2.6.1 differs)`, () => {
      const kek = importKey(hex(vector.kek), pkcs11js.CKK_AES);
      const keyData = importKey(hex(vector.keyData), pkcs11js.CKK_GENERIC_SECRET);

      const wrapped = module.C_WrapKey(
        session,
        { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
        kek,
        keyData,
        Buffer.alloc(64),
      );
      module.C_DestroyObject(session, keyData);
      module.C_DestroyObject(session, kek);

      expect(wrapped.toString('hex')).toBe(vector.wrapped);
    });
  }

  it('wraps RFC 5649 key data zero-padded, as SoftHSM 2.6.1 does', () => {
    const vector = rfc5649Vectors[0];
    const kekValue = hex(vector?.kek ?? '');
    const keyValue = hex(vector?.keyData ?? '');
    const padded = Buffer.concat([keyValue, Buffer.alloc((8 - (keyValue.length % 8)) % 8)]);
    const cipher = createCipheriv('id-aes192-wrap-pad', kekValue, hex('a65959a6'));
    const expected = Buffer.concat([cipher.update(padded), cipher.final()]);
    const kek = importKey(kekValue, pkcs11js.CKK_AES);
    const keyData = importKey(keyValue, pkcs11js.CKK_GENERIC_SECRET);

    const wrapped = module.C_WrapKey(
      session,
      { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
      kek,
      keyData,
      Buffer.alloc(64),
    );

    expect(wrapped.toString('hex')).toBe(expected.toString('hex'));
    module.C_DestroyObject(session, keyData);
    module.C_DestroyObject(session, kek);
  });

  it('wraps a 32-byte key with CKM_AES_KEY_WRAP_PAD as RFC 5649 does', () => {
    // A DEK is 32 bytes, where SoftHSM's zero padding adds nothing. OpenSSL's id-aes256-wrap-pad
    // (RFC 5649, alternative IV A65959A6) is the reference here.
    const kekValue = hex(rfc3394Vector.kek);
    const keyValue = hex(rfc3394Vector.keyData);
    const cipher = createCipheriv('id-aes256-wrap-pad', kekValue, hex('a65959a6'));
    const expected = Buffer.concat([cipher.update(keyValue), cipher.final()]);
    const kek = importKey(kekValue, pkcs11js.CKK_AES);
    const keyData = importKey(keyValue, pkcs11js.CKK_GENERIC_SECRET);

    const wrapped = module.C_WrapKey(
      session,
      { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
      kek,
      keyData,
      Buffer.alloc(64),
    );

    expect(wrapped.toString('hex')).toBe(expected.toString('hex'));
    module.C_DestroyObject(session, keyData);
    module.C_DestroyObject(session, kek);
  });

  function unwrapToValue(kek: Buffer, mechanism: number, wrapped: Buffer): Buffer {
    const key = module.C_UnwrapKey(session, { mechanism }, kek, wrapped, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
    ]);
    const [attribute] = module.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]);
    module.C_DestroyObject(session, key);
    return attribute?.value ?? Buffer.alloc(0);
  }

  it('computes the AES-ECB check value as CKA_CHECK_VALUE and Node do', () => {
    const value = hex(gcmVectors[0]?.key ?? '');
    const key = importKey(value, pkcs11js.CKK_AES);

    const computed = computeEcbCheckValue(module, session, key);
    const [attribute] = module.C_GetAttributeValue(session, key, [
      { type: pkcs11js.CKA_CHECK_VALUE },
    ]);

    expect(computed).toBe(aesKeyCheckValue(value));
    expect(attribute?.value.toString('hex')).toBe(computed);
    module.C_DestroyObject(session, key);
  });

  it('derives the key-wrap check value from RFC 3394 over a zero key', () => {
    const value = hex(gcmVectors[0]?.key ?? '');
    const key = importKey(value, pkcs11js.CKK_AES);
    // Node's id-aes256-wrap is RFC 3394 with the default IV A6A6A6A6A6A6A6A6.
    const cipher = createCipheriv('id-aes256-wrap', value, Buffer.alloc(8, 0xa6));
    const expectedWrap = Buffer.concat([cipher.update(Buffer.alloc(32)), cipher.final()]);
    const expected = createHash('sha256')
      .update(expectedWrap)
      .digest()
      .subarray(0, 3)
      .toString('hex');

    const first = deriveCheckValueByKeyWrap(module, session, key, pkcs11js.CKM_AES_KEY_WRAP, log);
    const second = deriveCheckValueByKeyWrap(module, session, key, pkcs11js.CKM_AES_KEY_WRAP, log);

    expect(first).toBe(expected);
    expect(second).toBe(first);
    module.C_DestroyObject(session, key);
  });
});
