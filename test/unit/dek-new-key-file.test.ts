import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { defaultNewKeyFile } from '../../src/cli/commands/dek.js';
import { StrongroomError } from '../../src/errors.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongroom-new-key-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('new key file path', () => {
  it('lies beside the configured key file', async () => {
    const configured = join(dir, 'master.key');
    await writeFile(configured, 'x', { mode: 0o600 });

    expect(await defaultNewKeyFile(configured)).toMatch(
      new RegExp(`^${dir}/master-\\d{8}-\\d{6}\\.key$`),
    );
  });

  it('is refused beside a directory', async () => {
    const configured = join(dir, 'keys');
    await mkdir(configured);

    const error = await defaultNewKeyFile(configured).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StrongroomError);
    expect((error as StrongroomError).code).toBe('SR_KEYFILE_INVALID');
    expect((error as StrongroomError).message).toBe(
      `strongroom.keyFile ${configured} is not a regular file, and dek renew puts the new key file beside it. Set strongroom.keyFile to the path of the key file itself, or pass --key-file.`,
    );
  });
});
