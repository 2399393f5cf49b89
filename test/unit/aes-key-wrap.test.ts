import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  aesKeyUnwrap,
  aesKeyWrap,
  KeyWrapIntegrityError,
  type AesBlockOperation,
} from '../../src/crypto/aes-key-wrap.js';

/** AES-256 in ECB mode on one block with Node's crypto, standing in for the token's CKM_AES_ECB. */
function ecb(kek: Buffer, direction: 'encrypt' | 'decrypt'): AesBlockOperation {
  return (block) => {
    const cipher =
      direction === 'encrypt'
        ? createCipheriv('aes-256-ecb', kek, null)
        : createDecipheriv('aes-256-ecb', kek, null);
    cipher.setAutoPadding(false);
    return Promise.resolve(Buffer.concat([cipher.update(block), cipher.final()]));
  };
}

// RFC 3394, section 4.6: wrap 256 bits of key data with a 256-bit KEK.
const rfcKek = Buffer.from(
  '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F',
  'hex',
);
const rfcKeyData = Buffer.from(
  '00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F',
  'hex',
);
const rfcCiphertext = Buffer.from(
  '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21',
  'hex',
);

describe('AES key wrap over a block operation', () => {
  it('wraps the RFC 3394 section 4.6 vector', async () => {
    const wrapped = await aesKeyWrap(ecb(rfcKek, 'encrypt'), rfcKeyData);

    expect(wrapped.toString('hex')).toBe(rfcCiphertext.toString('hex'));
  });

  it('unwraps the RFC 3394 section 4.6 vector', async () => {
    const keyData = await aesKeyUnwrap(ecb(rfcKek, 'decrypt'), rfcCiphertext);

    expect(keyData.toString('hex')).toBe(rfcKeyData.toString('hex'));
  });

  it('matches OpenSSL id-aes256-wrap', async () => {
    for (const bytes of [16, 24, 32, 64]) {
      const kek = randomBytes(32);
      const keyData = randomBytes(bytes);
      const openssl = createCipheriv('id-aes256-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
      const expected = Buffer.concat([openssl.update(keyData), openssl.final()]);

      const wrapped = await aesKeyWrap(ecb(kek, 'encrypt'), keyData);

      expect(wrapped.toString('hex'), `${bytes}-byte key data`).toBe(expected.toString('hex'));
    }
  });

  it('rejects a changed wrapped key', async () => {
    for (let index = 0; index < rfcCiphertext.length; index += 7) {
      const changed = Buffer.from(rfcCiphertext);
      changed[index] = (changed[index] ?? 0) ^ 0x01;

      await expect(aesKeyUnwrap(ecb(rfcKek, 'decrypt'), changed), `byte ${index}`).rejects.toThrow(
        KeyWrapIntegrityError,
      );
    }
  });

  it('rejects the wrong key', async () => {
    await expect(aesKeyUnwrap(ecb(randomBytes(32), 'decrypt'), rfcCiphertext)).rejects.toThrow(
      KeyWrapIntegrityError,
    );
  });

  it('rejects bad lengths', async () => {
    await expect(aesKeyWrap(ecb(rfcKek, 'encrypt'), Buffer.alloc(8))).rejects.toThrow(RangeError);
    await expect(aesKeyWrap(ecb(rfcKek, 'encrypt'), Buffer.alloc(20))).rejects.toThrow(RangeError);
    await expect(aesKeyUnwrap(ecb(rfcKek, 'decrypt'), Buffer.alloc(16))).rejects.toThrow(
      KeyWrapIntegrityError,
    );
    await expect(
      aesKeyUnwrap(ecb(rfcKek, 'decrypt'), rfcCiphertext.subarray(0, 39)),
    ).rejects.toThrow(KeyWrapIntegrityError);
  });

  it('rejects a block operation of the wrong size', async () => {
    const short: AesBlockOperation = () => Promise.resolve(Buffer.alloc(8));

    await expect(aesKeyWrap(short, rfcKeyData)).rejects.toThrow(/returned 8 bytes, expected 16/);
  });

  it('zeroes the blocks it passes to the operation', async () => {
    const seen: Buffer[] = [];
    const recording: AesBlockOperation = async (block) => {
      seen.push(block);
      return ecb(rfcKek, 'encrypt')(block);
    };

    await aesKeyWrap(recording, rfcKeyData);

    expect(seen).toHaveLength(24);
    expect(seen.every((block) => block.equals(Buffer.alloc(16)))).toBe(true);
  });
});
