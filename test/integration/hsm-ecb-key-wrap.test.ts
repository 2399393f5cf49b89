import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  finalizeModule,
  hsmLogFromPino,
  initializeModule,
  listSlots,
  loadModule,
  loginUser,
  selectSlot,
} from '../../src/keys/hsm/index.js';
import { unwrapWithEcbKeyWrap, wrapWithEcbKeyWrap } from '../../src/keys/hsm/ecb-key-wrap.js';
import { BINDING_BYTES, unwrapWithKeyWrap, wrapWithKeyWrap } from '../../src/keys/hsm/key-wrap.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

// RFC 3394, section 4.6: wrap 256 bits of key data with a 256-bit KEK.
const rfcKek = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const rfcKeyData = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
const rfcCiphertext = hex(
  '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21',
);

// This file calls PKCS#11 on the test's own thread, as hsm-vectors.test.ts does, so that SoftHSM's
// CKM_AES_KEY_WRAP and the ECB computation run on the same session and the same key.
describe.skipIf(!softHsmAvailable())('key wrap over CKM_AES_ECB on SoftHSM', () => {
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
      module.close();
    }
    await fixture?.cleanup();
  });

  /** Imports a KEK as a session object that may encrypt, decrypt, wrap and unwrap. */
  function importKek(value: Buffer): Buffer {
    return module.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_VALUE, value },
    ]);
  }

  /** Generates a KEK on the token, sensitive and never extractable, like a master key. */
  function generateKek(): Buffer {
    return module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
    ]);
  }

  it('wraps the RFC 3394 section 4.6 vector', async () => {
    const kek = importKek(rfcKek);

    const record = await wrapWithEcbKeyWrap(module, session, kek, rfcKeyData, Buffer.alloc(0));

    expect(record.subarray(0, record.length - BINDING_BYTES).toString('hex')).toBe(
      rfcCiphertext.toString('hex'),
    );
  });

  it('matches CKM_AES_KEY_WRAP byte for byte', async () => {
    const kek = generateKek();
    for (let count = 0; count < 20; count++) {
      const dek = randomBytes(32);
      const aad = Buffer.from(`dek:${count}`);

      const fromToken = await wrapWithKeyWrap(module, session, kek, 'aes-key-wrap', dek, aad, log);
      const computed = await wrapWithEcbKeyWrap(module, session, kek, dek, aad);

      expect(computed.toString('hex'), `DEK ${count}`).toBe(fromToken.toString('hex'));
    }
  });

  it('opens records of CKM_AES_KEY_WRAP', async () => {
    const kek = generateKek();
    const dek = randomBytes(32);
    const aad = Buffer.from('dek:0001');
    const fromToken = await wrapWithKeyWrap(module, session, kek, 'aes-key-wrap', dek, aad, log);

    const opened = await unwrapWithEcbKeyWrap(module, session, kek, fromToken, aad);

    expect(opened.equals(dek)).toBe(true);
  });

  it('makes records that CKM_AES_KEY_WRAP opens', async () => {
    const kek = generateKek();
    const dek = randomBytes(32);
    const aad = Buffer.from('dek:0002');
    const computed = await wrapWithEcbKeyWrap(module, session, kek, dek, aad);

    const opened = await unwrapWithKeyWrap(
      module,
      session,
      kek,
      'aes-key-wrap',
      computed,
      aad,
      log,
    );

    expect(opened.equals(dek)).toBe(true);
  });

  it('rejects another row, a changed record and another key', async () => {
    const kek = generateKek();
    const dek = randomBytes(32);
    const record = await wrapWithEcbKeyWrap(module, session, kek, dek, Buffer.from('dek:0003'));
    const changed = Buffer.from(record);
    changed[3] = (changed[3] ?? 0) ^ 0x80;

    await expect(
      unwrapWithEcbKeyWrap(module, session, kek, record, Buffer.from('dek:0004')),
    ).rejects.toThrow('binding tag does not match');
    await expect(
      unwrapWithEcbKeyWrap(module, session, kek, changed, Buffer.from('dek:0003')),
    ).rejects.toThrow('integrity check value');
    await expect(
      unwrapWithEcbKeyWrap(module, session, generateKek(), record, Buffer.from('dek:0003')),
    ).rejects.toThrow('integrity check value');
    await expect(
      unwrapWithEcbKeyWrap(module, session, kek, record.subarray(0, 32), Buffer.from('dek:0003')),
    ).rejects.toThrow('too few');
  });
});
