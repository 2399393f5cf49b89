import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProperties } from '../../src/config/properties.js';
import { setProperty, writeFileAtomic } from '../../src/config/properties-editor.js';

describe('setProperty', () => {
  it('replaces a value in place and keeps comments and order', () => {
    const text =
      '# key provider\nkron.crypto.keyProvider = file\n! other\nhsm.keystore.alias=pam\n';
    expect(setProperty(text, 'kron.crypto.keyProvider', 'hsm')).toBe(
      '# key provider\nkron.crypto.keyProvider = hsm\n! other\nhsm.keystore.alias=pam\n',
    );
  });

  it('appends a missing key', () => {
    expect(setProperty('a=1', 'b', '2')).toBe('a=1\nb = 2\n');
    expect(setProperty('', 'b', '2')).toBe('b = 2\n');
  });

  it('keeps CRLF line endings', () => {
    expect(setProperty('a=1\r\nb=2\r\n', 'a', '3')).toBe('a = 3\r\nb=2\r\n');
  });

  it('appends after a dangling continuation', () => {
    for (const text of ['a=1\\', 'a=1\\\n', 'a=1\r\nb=x\\\r\n']) {
      const updated = setProperty(text, 'c', '2');
      const file = parseProperties(updated, 'p');

      expect(file.get('c')?.value).toBe('2');
      expect(file.get('a')?.value).toBe('1');
    }
    expect(setProperty('a=1\\', 'c', '2')).toBe('a=1\\\n\nc = 2\n');
  });

  it('replaces the last definition and its continuation lines', () => {
    const text = 'a=1\nlist = x, \\\n  y\nc=3\nlist=z\n';
    const updated = setProperty(text, 'list', 'w');
    expect(updated).toBe('a=1\nlist = x, \\\n  y\nc=3\nlist = w\n');
    const continued = setProperty('list = x, \\\n  y\nc=3\n', 'list', 'w');
    expect(continued).toBe('list = w\nc=3\n');
  });

  it.each([
    ' leading blank',
    'trailing blank ',
    'a=b:c',
    '#hash',
    'back\\slash',
    'tab\there',
    'caf\u00e9',
    '\u{1F511}',
  ])('round-trips %j through the parser', (value) => {
    const text = setProperty('# header\n', 'hsm.keystore.alias', value);
    expect(parseProperties(text, 'x').get('hsm.keystore.alias')?.value).toBe(value);
    expect(text.startsWith('# header\n')).toBe(true);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file with mode 0600 and leaves no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strongroom-atomic-'));
    try {
      const path = join(dir, 'security.properties');
      await writeFile(path, 'old\n', { mode: 0o644 });
      await writeFileAtomic(path, 'new\n');
      expect(await readFile(path, 'utf8')).toBe('new\n');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readdir(dir)).toEqual(['security.properties']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
