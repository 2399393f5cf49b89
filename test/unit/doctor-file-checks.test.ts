import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { checkSecretFileMode } from '../../src/doctor/file-checks.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongroom-doctor-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('secret file mode check', () => {
  it('fails for a directory', async () => {
    const path = join(dir, 'keys');
    await mkdir(path, { mode: 0o700 });

    const result = await checkSecretFileMode('key file mode', path, 'strongroom.keyFile');

    expect(result.status).toBe('failed');
    expect(result.message).toBe(`${path} is a directory.`);
    expect(result.fix).toBe('Set strongroom.keyFile to the path of the file itself.');
  });

  it('passes a file with mode 0600', async () => {
    const path = join(dir, 'master.key');
    await writeFile(path, 'x', { mode: 0o600 });

    const result = await checkSecretFileMode('key file mode', path);

    expect(result.status).toBe('ok');
    expect(result.message).toBe(`${path} has mode 0600.`);
  });
});
