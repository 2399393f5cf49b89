import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSealed, sealPin, unsealPin, type SealContext } from '../../src/keys/pin-seal.js';
import { StrongroomError } from '../../src/errors.js';

let dir: string;
let context: SealContext;
const PIN = 'user-pin-8841';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strongroom-seal-'));
  await writeFile(join(dir, 'machine-id'), '0123456789abcdef0123456789abcdef\n');
  context = { sealKeyPath: join(dir, 'pin-seal.key'), machineIdPaths: [join(dir, 'machine-id')] };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<StrongroomError> {
  try {
    await promise;
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected a rejection');
}

describe('sealed PIN', () => {
  it('round-trips on the same host', async () => {
    const sealed = await sealPin(PIN, context);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain(PIN);
    expect(await unsealPin(sealed, context)).toBe(PIN);
  });

  it('creates its seal key with mode 0600', async () => {
    await sealPin(PIN, context);
    expect((await stat(context.sealKeyPath)).mode & 0o777).toBe(0o600);
    expect((await readFile(context.sealKeyPath)).length).toBe(32);
  });

  it('differs each time it is sealed', async () => {
    expect(await sealPin(PIN, context)).not.toBe(await sealPin(PIN, context));
  });

  it('names another host', async () => {
    const sealed = await sealPin(PIN, context);
    await writeFile(join(dir, 'machine-id'), 'fedcba9876543210fedcba9876543210\n');
    const error = await rejection(unsealPin(sealed, context));
    expect(error.code).toBe('SR_HSM_PIN_SEALED_ELSEWHERE');
    expect(error.message).toContain('sealed on another host');
    expect(error.message).toContain("'strongroom hsm register' on this host");
  });

  it('rejects a lost seal key', async () => {
    const sealed = await sealPin(PIN, context);
    await rm(context.sealKeyPath);
    const error = await rejection(unsealPin(sealed, context));
    expect(error.code).toBe('SR_HSM_PIN_SEAL_INVALID');
    expect(error.message).toContain(context.sealKeyPath);
  });

  it('rejects a changed value without echoing it', async () => {
    const sealed = await sealPin(PIN, context);
    const changed = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    const error = await rejection(unsealPin(changed, context));
    expect(error.code).toBe('SR_HSM_PIN_SEAL_INVALID');
    expect(error.message).not.toContain(changed);
  });

  it.each(['sealed:v1:', 'sealed:v1:abc', 'plain-pin'])('rejects malformed %j', async (value) => {
    const error = await rejection(unsealPin(value, context));
    expect(error.code).toBe('SR_HSM_PIN_SEAL_INVALID');
  });
});
