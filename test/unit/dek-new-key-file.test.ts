import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { defaultNewKeyFile, renewFlagError } from '../../src/cli/commands/dek-renew-keys.js';
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

describe('renew flag errors', () => {
  it('name --from-hsm-key-label', () => {
    const error = new StrongroomError('SR_HSM_KEY_NOT_FOUND', 'no secret key is labelled', {
      details: { keyLabel: 'old-key' },
    });

    const named = renewFlagError(error, { fromHsmKeyLabel: 'old-key' }) as StrongroomError;

    expect(named.code).toBe('SR_HSM_KEY_NOT_FOUND');
    expect(named.message).toBe(
      "--from-hsm-key-label 'old-key': no secret key has this label on the token. Pass the label of the old master key.",
    );
  });

  it('name --from-key-file', () => {
    const path = join(dir, 'old.key');
    const error = new StrongroomError(
      'SR_KEYFILE_MISSING',
      `Master key file ${path} does not exist.`,
      { details: { path } },
    );

    const named = renewFlagError(error, { fromKeyFile: path }) as StrongroomError;

    expect(named.code).toBe('SR_KEYFILE_MISSING');
    expect(named.message).toBe(
      `--from-key-file ${path}: the file does not exist. Pass the path of the old master key file.`,
    );
  });

  it('keep errors of other keys', () => {
    const error = new StrongroomError(
      'SR_KEYFILE_MISSING',
      'Master key file /elsewhere does not exist.',
      { details: { path: '/elsewhere' } },
    );

    expect(renewFlagError(error, { fromKeyFile: join(dir, 'old.key') })).toBe(error);
  });
});
