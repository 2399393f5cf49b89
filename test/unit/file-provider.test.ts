import { chmod, mkdir, mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKeyFile, fileKeyId, readKeyFile } from '../../src/keys/file/key-file.js';
import { createFileProvider } from '../../src/keys/file/file-provider.js';
import { StrongroomError } from '../../src/errors.js';
import type { BatchResult } from '../../src/keys/types.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongroom-keyfile-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function caught(promise: Promise<unknown>): Promise<StrongroomError> {
  try {
    await promise;
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected a rejection');
}

describe('master key file', () => {
  it('is created with mode 0600 and read back', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readKeyFile(path)).length).toBe(32);
  });

  it('is never overwritten', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    const before = await readFile(path);
    const error = await caught(createKeyFile(path));
    expect(error.code).toBe('SR_KEYFILE_EXISTS');
    expect(await readFile(path)).toEqual(before);
  });

  it.each(['640', '604', '644', '660', '620', '602'])('is refused with mode %s', async (octal) => {
    const mode = Number.parseInt(octal, 8);
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    await chmod(path, mode);
    const error = await caught(readKeyFile(path));
    expect(error.code).toBe('SR_KEYFILE_PERMISSIONS');
    expect(error.message).toContain(`mode ${mode.toString(8).padStart(4, '0')}`);
    expect(error.message).toContain(`chmod 600 ${path}`);
  });

  it('accepts raw, hex and base64 keys', async () => {
    const key = Buffer.alloc(32, 0xab);
    for (const content of [key, key.toString('hex'), `${key.toString('base64')}\n`]) {
      const path = join(dir, 'k');
      await rm(path, { force: true });
      await writeFile(path, content, { mode: 0o600 });
      expect(await readKeyFile(path)).toEqual(key);
    }
  });

  it('rejects a file without a 32-byte key, without echoing it', async () => {
    const path = join(dir, 'k');
    await writeFile(path, 'not-a-key-but-a-secret-looking-string', { mode: 0o600 });
    const error = await caught(readKeyFile(path));
    expect(error.code).toBe('SR_KEYFILE_INVALID');
    expect(error.message).not.toContain('secret-looking');
  });

  it.each(['700', '755'])('rejects a directory with mode %s', async (octal) => {
    const path = join(dir, 'keys');
    await mkdir(path, { mode: Number.parseInt(octal, 8) });
    await chmod(path, Number.parseInt(octal, 8));
    const error = await caught(readKeyFile(path));
    expect(error.code).toBe('SR_KEYFILE_INVALID');
    expect(error.message).toBe(
      `Master key file ${path} is a directory. Set strongroom.keyFile in security.properties to the path of the key file itself.`,
    );
  });

  it('reports a missing file with the fix', async () => {
    const error = await caught(readKeyFile(join(dir, 'absent.key')));
    expect(error.code).toBe('SR_KEYFILE_MISSING');
    expect(error.message).toContain('Restore it from your key backup');
    expect(error.details['path']).toBe(join(dir, 'absent.key'));
  });
});

describe('file provider', () => {
  it('wraps and unwraps bound to the associated data', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    const provider = createFileProvider({ path });
    await provider.open();

    const dek = Buffer.alloc(32, 5);
    const wrapped = await provider.wrap(dek, Buffer.from('dek-1'));
    expect(wrapped.mechanism).toBe('aes-256-gcm');
    expect(await provider.unwrap(wrapped, Buffer.from('dek-1'))).toEqual(dek);
    expect((await caught(provider.unwrap(wrapped, Buffer.from('dek-2')))).code).toBe(
      'SR_DECRYPT_FAILED',
    );

    const key = await readKeyFile(path);
    expect(provider.ref()).toEqual({
      provider: 'file',
      keyId: fileKeyId(key),
      kcv: expect.stringMatching(/^[0-9a-f]{6}$/),
    });
    await provider.close();
    expect(provider.status().ready).toBe(false);
  });

  it('batch items fail alone', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    const provider = createFileProvider({ path });
    await provider.open();
    const deks = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)];

    const wrapped = await provider.wrapMany(
      deks.map((dek, index) => ({ dek, aad: Buffer.from(`dek-${index}`) })),
    );
    const keys = wrapped.map((result) => {
      if (!result.ok) {
        throw result.error;
      }
      return result.value;
    });
    const opened = await provider.unwrapMany([
      { key: keys[0]!, aad: Buffer.from('dek-0') },
      { key: keys[1]!, aad: Buffer.from('dek-0') },
      {
        key: { mechanism: 'aes-key-wrap-pad', wrapped: keys[2]!.wrapped },
        aad: Buffer.from('dek-2'),
      },
      { key: keys[2]!, aad: Buffer.from('dek-2') },
    ]);

    expect(opened[0]).toEqual({ ok: true, value: deks[0] });
    expect(errorOf(opened[1])?.code).toBe('SR_DECRYPT_FAILED');
    expect(errorOf(opened[2])?.message).toContain(
      'aes-key-wrap-pad cannot be opened by the file provider',
    );
    expect(opened[3]).toEqual({ ok: true, value: deks[2] });
    await provider.close();
  });

  it('reopen returns openable wrappings', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    const provider = createFileProvider({ path });
    await provider.open();
    const items = [Buffer.alloc(32, 4), Buffer.alloc(32, 5)].map((dek, index) => ({
      dek,
      aad: Buffer.from(`dek-${index}`),
    }));

    const wrapped = await provider.wrapMany(items, { reopen: true });
    const opened = await provider.unwrapMany(
      wrapped.map((result, index) => {
        if (!result.ok) {
          throw result.error;
        }
        return { key: result.value, aad: items[index]!.aad };
      }),
    );

    expect(opened).toEqual(items.map((item) => ({ ok: true, value: item.dek })));
    await provider.close();
  });

  it('batch on a closed provider is rejected', async () => {
    const provider = createFileProvider({ path: join(dir, 'master.key') });

    const error = await caught(provider.unwrapMany([]));

    expect(error.code).toBe('SR_KEY_PROVIDER_UNAVAILABLE');
  });
});

function errorOf(result: BatchResult<Buffer> | undefined): StrongroomError | undefined {
  return result?.ok === false ? (result.error as StrongroomError) : undefined;
}
