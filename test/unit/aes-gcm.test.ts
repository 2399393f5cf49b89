import { describe, expect, it } from 'vitest';
import { openGcm, sealGcm } from '../../src/crypto/aes-gcm.js';
import { aesKeyCheckValue } from '../../src/crypto/key-check-value.js';
import { dekAssociatedData, secretAssociatedData } from '../../src/crypto/associated-data.js';
import { newGcmIv } from '../../src/crypto/gcm-iv.js';
import { isStrongroomError } from '../../src/errors.js';

const hex = (value: string) => Buffer.from(value, 'hex');

/**
 * AES-256-GCM known answers with a 96-bit IV. The first is from NIST CAVP's GCM validation files
 * (gcmEncryptExtIV256.rsp); the others are test cases 13, 14 and 16 of the GCM specification
 * (McGrew and Viega, "The Galois/Counter Mode of Operation", appendix B).
 */
const vectors = [
  {
    name: 'CAVP 256-bit key with AAD',
    key: '83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a',
    iv: '0b459724904e010a46901cf3',
    aad: '794a14ccd178c8ebfd1379dc704c5e208f9d8424',
    plaintext: '33d893a2114ce06fc15d55e454cf90c3',
    ciphertext: 'cc66bee423e3fcd4c0865715e9586696',
    tag: '0fb291bd3dba94a1dfd8b286cfb97ac5',
  },
  {
    name: 'spec case 13, empty plaintext',
    key: '0'.repeat(64),
    iv: '0'.repeat(24),
    aad: '',
    plaintext: '',
    ciphertext: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'spec case 14, one zero block',
    key: '0'.repeat(64),
    iv: '0'.repeat(24),
    aad: '',
    plaintext: '0'.repeat(32),
    ciphertext: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'spec case 16, AAD and partial block',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
    iv: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    plaintext:
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    ciphertext:
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

describe('AES-256-GCM', () => {
  for (const vector of vectors) {
    it(`seals ${vector.name}`, () => {
      const sealed = sealGcm(
        hex(vector.key),
        hex(vector.plaintext),
        hex(vector.aad),
        hex(vector.iv),
      );
      expect(sealed.toString('hex')).toBe(vector.iv + vector.ciphertext + vector.tag);
    });

    it(`opens ${vector.name}`, () => {
      const sealed = hex(vector.iv + vector.ciphertext + vector.tag);
      expect(openGcm(hex(vector.key), sealed, hex(vector.aad)).toString('hex')).toBe(
        vector.plaintext,
      );
    });
  }

  it('rejects a changed byte, other AAD, short input', () => {
    const key = Buffer.alloc(32, 7);
    const sealed = sealGcm(key, Buffer.from('root password'), Buffer.from('row-1'));
    const flipped = Buffer.from(sealed);
    flipped[14] = (flipped[14] ?? 0) ^ 1;

    for (const [input, aad] of [
      [flipped, Buffer.from('row-1')],
      [sealed, Buffer.from('row-2')],
      [sealed.subarray(0, 20), Buffer.from('row-1')],
    ] as const) {
      let caught: unknown;
      try {
        openGcm(key, input, aad);
      } catch (error) {
        caught = error;
      }
      expect(isStrongroomError(caught, 'SR_DECRYPT_FAILED')).toBe(true);
    }
  });

  it('uses a fresh IV each time', () => {
    const key = Buffer.alloc(32, 1);
    const ivs = new Set<string>();
    for (let i = 0; i < 1000; i += 1) {
      ivs.add(sealGcm(key, Buffer.from('x'), Buffer.alloc(0)).subarray(0, 12).toString('hex'));
    }
    expect(ivs.size).toBe(1000);
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => sealGcm(Buffer.alloc(16), Buffer.alloc(1), Buffer.alloc(0))).toThrow(RangeError);
    expect(() => sealGcm(Buffer.alloc(16), Buffer.alloc(1), Buffer.alloc(0))).toThrow(
      /32 bytes, got 16/,
    );
  });
});

describe('key check value', () => {
  // FIPS 197 appendix C.3: AES-256 of 00112233...ff under key 000102...1f. A zero block is not in
  // FIPS 197, so this checks the ECB step on its vector and the 3-byte truncation separately.
  it('matches the AES-256 ECB step of FIPS 197', async () => {
    const { createCipheriv } = await import('node:crypto');
    const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const cipher = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    const out = cipher.update(hex('00112233445566778899aabbccddeeff')).toString('hex');
    expect(out).toBe('8ea2b7ca516745bfeafc49904b496089');
    expect(aesKeyCheckValue(key)).toMatch(/^[0-9a-f]{6}$/);
  });

  it('is stable and differs between keys', () => {
    expect(aesKeyCheckValue(Buffer.alloc(32, 1))).toBe(aesKeyCheckValue(Buffer.alloc(32, 1)));
    expect(aesKeyCheckValue(Buffer.alloc(32, 1))).not.toBe(aesKeyCheckValue(Buffer.alloc(32, 2)));
  });
});

describe('associated data', () => {
  it('separates fields that concatenate alike', () => {
    expect(secretAssociatedData('ab', 'c', 1).equals(secretAssociatedData('a', 'bc', 1))).toBe(
      false,
    );
  });

  it('separates purposes', () => {
    expect(dekAssociatedData('x').equals(secretAssociatedData('x', '', 0))).toBe(false);
  });

  it('keeps the stored byte layout', () => {
    // Length-prefixed UTF-8 fields: 'strongroom/dek/v1' (17 bytes), then 'é€' (5 bytes).
    expect(dekAssociatedData('é€').toString('hex')).toBe(
      '000000117374726f6e67726f6f6d2f64656b2f763100000005c3a9e282ac',
    );
  });
});

describe('GCM IVs', () => {
  it('never repeat across draws', () => {
    // 1,000 IVs span four draws of 256 from the random generator.
    const ivs = Array.from({ length: 1_000 }, () => newGcmIv());

    expect(ivs.every((iv) => iv.length === 12)).toBe(true);
    expect(new Set(ivs.map((iv) => iv.toString('hex'))).size).toBe(1_000);
  });

  it('stay unchanged by later writes', () => {
    const first = newGcmIv();
    const copy = Buffer.from(first);

    newGcmIv().fill(0);

    expect(first).toEqual(copy);
  });
});
