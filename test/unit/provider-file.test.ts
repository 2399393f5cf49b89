import { describe, expect, it } from 'vitest';
import { parseProviderFile } from '../../src/config/provider-file.js';
import { StrongroomError } from '../../src/errors.js';

function parseError(text: string): StrongroomError {
  try {
    parseProviderFile(text, '/etc/hsm/utimaco.conf');
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected the provider file to be rejected');
}

describe('PKCS#11 provider file', () => {
  it('reads the layout of the integration guide', () => {
    const file = parseProviderFile(
      'name = Utimaco\nlibrary = /usr/lib64/libcs_pkcs11_R3.so\nslot = 0\n',
      'x',
    );
    expect(file.name).toBe('Utimaco');
    expect(file.library).toBe('/usr/lib64/libcs_pkcs11_R3.so');
    expect(file.slot).toEqual({ by: 'id', id: 0 });
  });

  it('reads slotListIndex, tokenLabel and quoted values', () => {
    expect(parseProviderFile('library = "/opt/a b/lib.so"\nslotListIndex = 2', 'x')).toMatchObject({
      library: '/opt/a b/lib.so',
      slot: { by: 'index', index: 2 },
    });
    expect(parseProviderFile('library=/l.so\ntokenLabel = pam token ', 'x').slot).toEqual({
      by: 'tokenLabel',
      label: 'pam token',
    });
  });

  it('defaults to the first slot in the list', () => {
    expect(parseProviderFile('library=/l.so', 'x').slot).toEqual({ by: 'index', index: 0 });
  });

  it('accepts Java-only keywords and lists them', () => {
    expect(parseProviderFile('library=/l.so\nshowInfo = true\n# comment', 'x').ignored).toEqual([
      'showInfo',
    ]);
  });

  it.each([
    ['library=/l.so\nslots = 1', "unknown keyword 'slots'", 2],
    ['library=/l.so\nlibrary=/m.so', "keyword 'library' is set twice", 2],
    ['library=/l.so\nslot=1\nslotListIndex=0', 'slot and slotListIndex are both set', 0],
    ['library=lib.so', "library 'lib.so' is not an absolute path", 1],
    ['name = x', "missing 'library", 0],
    ['library=/l.so\nslot = -1', "slot '-1' is not a non-negative integer", 2],
    ['library=/l.so\nthis is not valid', "expected 'keyword = value'", 2],
    ['library="/l.so', 'no closing double quote', 1],
  ])('rejects %j', (text, problem, line) => {
    const error = parseError(text);
    expect(error.code).toBe('SR_CONFIG_SYNTAX');
    expect(error.message).toContain(problem);
    expect(error.message).toContain(
      line > 0 ? `/etc/hsm/utimaco.conf:${line}:` : '/etc/hsm/utimaco.conf:',
    );
  });
});
