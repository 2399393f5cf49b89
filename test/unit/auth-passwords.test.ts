import { describe, expect, it } from 'vitest';

import { hashPassword, validatePassword, verifyPassword } from '../../src/auth/passwords.js';
import { StrongroomError } from '../../src/errors.js';

function validationError(password: string): StrongroomError {
  try {
    validatePassword(password);
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected validatePassword to throw');
}

describe('password hashing', () => {
  it('uses argon2id with 64 MiB, 3 passes, 4 lanes', async () => {
    const hash = await hashPassword('correct horse battery staple');

    expect(hash.startsWith('$argon2id$v=19$')).toBe(true);
    expect(hash).toContain('m=65536');
    expect(hash).toContain('t=3');
    expect(hash).toContain('p=4');
  });

  it('verifies the right password only', async () => {
    const hash = await hashPassword('correct horse battery staple');

    expect(await verifyPassword(hash, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(hash, 'correct horse battery stapler')).toBe(false);
    expect(await verifyPassword(hash, '')).toBe(false);
  });

  it('salts each hash', async () => {
    const first = await hashPassword('correct horse battery staple');
    const second = await hashPassword('correct horse battery staple');

    expect(first).not.toBe(second);
  });
});

describe('password rules', () => {
  it('accepts 12 to 1024 characters', () => {
    expect(() => validatePassword('a'.repeat(12))).not.toThrow();
    expect(() => validatePassword('a'.repeat(1024))).not.toThrow();
  });

  it('counts an astral character once', () => {
    // Eleven code points, twenty-two UTF-16 units.
    const elevenEmoji = '\u{1F511}'.repeat(11);

    expect(validationError(elevenEmoji).details['rule']).toBe('password.minLength');
    expect(() => validatePassword(elevenEmoji + 'x')).not.toThrow();
  });

  const rejected = [
    { name: 'empty', password: '', rule: 'password.minLength', words: 'at least 12 characters' },
    {
      name: '11 characters',
      password: 'Tr0ub4dor&3',
      rule: 'password.minLength',
      words: 'at least 12 characters',
    },
    {
      name: '1025 characters',
      password: 'q'.repeat(1025),
      rule: 'password.maxLength',
      words: 'at most 1024 characters',
    },
  ];

  for (const { name, password, rule, words } of rejected) {
    it(`rejects ${name} naming the rule`, () => {
      const error = validationError(password);

      expect(error.code).toBe('SR_USER_INVALID');
      expect(error.details['rule']).toBe(rule);
      expect(error.message).toContain(words);
    });
  }

  it('keeps the password out of the message', () => {
    const error = validationError('Tr0ub4dor&3');

    expect(error.message).not.toContain('Tr0ub4dor&3');
    expect(error.message).not.toContain('11');
  });
});
