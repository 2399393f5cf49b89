import { describe, expect, it } from 'vitest';
import { parseProperties } from '../../src/config/properties.js';
import { StrongroomError } from '../../src/errors.js';

function valueOf(text: string, key: string): string | undefined {
  return parseProperties(text, 'security.properties').get(key)?.value;
}

describe('properties parser', () => {
  it.each([
    ['a=b', 'a', 'b'],
    ['a:b', 'a', 'b'],
    ['a b', 'a', 'b'],
    ['a   =   b', 'a', 'b'],
    ['  a\t:\tb', 'a', 'b'],
    ['a=', 'a', ''],
    ['a', 'a', ''],
    ['a==b', 'a', '=b'],
    ['a\\=x=b', 'a=x', 'b'],
    ['a\\ b=c', 'a b', 'c'],
    ['a=\\u0041\\u00e9', 'a', 'A\u00e9'],
    ['a=x\\ty\\nz', 'a', 'x\ty\nz'],
    ['a=c:\\\\path', 'a', 'c:\\path'],
    ['a=\\q', 'a', 'q'],
  ])('parses %j', (text, key, value) => {
    expect(valueOf(text, key)).toBe(value);
  });

  it('keeps trailing blanks in the value', () => {
    expect(valueOf('hsm.keystore.alias=pam-master-key  ', 'hsm.keystore.alias')).toBe(
      'pam-master-key  ',
    );
  });

  it('skips # and ! comments and blank lines', () => {
    const file = parseProperties('# a=1\n  ! b=2\n\n c=3\n', 'x');
    expect(file.entries.map((entry) => entry.key)).toEqual(['c']);
  });

  it('joins continued lines and drops their leading blanks', () => {
    const file = parseProperties('list = one, \\\n      two, \\\n  three\nnext=1', 'x');
    expect(file.get('list')?.value).toBe('one, two, three');
    expect(file.get('next')?.line).toBe(4);
  });

  it('treats an even number of trailing backslashes as literal', () => {
    expect(valueOf('a=x\\\\\nb=y', 'a')).toBe('x\\');
    expect(valueOf('a=x\\\\\nb=y', 'b')).toBe('y');
  });

  it('accepts CRLF, CR and a byte-order mark', () => {
    const file = parseProperties('\uFEFFa=1\r\nb=2\rc=3', 'x');
    expect(file.entries.map((entry) => [entry.key, entry.value, entry.line])).toEqual([
      ['a', '1', 1],
      ['b', '2', 2],
      ['c', '3', 3],
    ]);
  });

  it('lets the last of repeated keys win', () => {
    expect(valueOf('a=1\na=2', 'a')).toBe('2');
  });

  it('reports a malformed unicode escape with file and line', () => {
    let caught: unknown;
    try {
      parseProperties('ok=1\nbad=\\u12G4', 'security.properties');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StrongroomError);
    expect((caught as StrongroomError).code).toBe('SR_CONFIG_SYNTAX');
    expect((caught as StrongroomError).message).toContain('security.properties:2');
    expect((caught as StrongroomError).message).toContain('\\u12G4');
  });
});
