import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHsmProvider, type HsmProviderOptions } from '../../src/keys/hsm/index.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

/**
 * OpenSC's pkcs11-spy.so sits between the provider and SoftHSM and writes every PKCS#11 call to
 * PKCS11SPY_OUTPUT, so the tests can count the C_Login calls that reach the token.
 */
const SPY_LIBRARY = '/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so';

const available = softHsmAvailable() && spyAvailable();

function spyAvailable(): boolean {
  if (existsSync(SPY_LIBRARY)) {
    return true;
  }
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') {
    throw new Error(`${SPY_LIBRARY} is missing; install the opensc package`);
  }
  console.warn(`skipping C_Login counting tests: ${SPY_LIBRARY} is missing (package opensc)`);
  return false;
}

describe.skipIf(!available)('HSM provider login', () => {
  let fixture: SoftHsmFixture;
  let spyOutput: string;
  const memory = createMemoryLogger();

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey('pam-master-key');
    spyOutput = join(fixture.directory, 'pkcs11-spy.log');
    process.env['PKCS11SPY'] = fixture.library;
    process.env['PKCS11SPY_OUTPUT'] = spyOutput;
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  function options(overrides: Partial<HsmProviderOptions>): HsmProviderOptions {
    return {
      library: SPY_LIBRARY,
      slot: { by: 'tokenLabel', label: fixture.tokenLabel },
      keyLabel: 'pam-master-key',
      pin: fixture.userPin,
      logger: memory.logger,
      ...overrides,
    };
  }

  function loginCalls(): number {
    if (!existsSync(spyOutput)) {
      return 0;
    }
    return readFileSync(spyOutput, 'utf8').match(/\bC_Login\b/g)?.length ?? 0;
  }

  it('calls C_Login once after a wrong PIN', async () => {
    const before = loginCalls();
    const provider = createHsmProvider(options({ pin: 'wrong-pin-1111' }));

    const first = await provider.open().catch((error: unknown) => error);
    const second = await provider.open().catch((error: unknown) => error);
    await provider.close();

    expect(first).toMatchObject({ code: 'SR_HSM_PIN_INCORRECT' });
    expect(second).toMatchObject({ code: 'SR_HSM_PIN_INCORRECT' });
    expect(loginCalls() - before).toBe(1);
  });

  it('logs in once for a pool of 4 sessions', async () => {
    const before = loginCalls();
    const provider = createHsmProvider(options({ poolSize: 4 }));
    await provider.open();

    await Promise.all(
      Array.from({ length: 16 }, async (_, index) => {
        const aad = Buffer.from(`dek:${index}`);
        const wrapped = await provider.wrap(randomBytes(32), aad);
        await provider.unwrap(wrapped, aad);
      }),
    );
    await provider.close();

    expect(loginCalls() - before).toBe(1);
    expect(readFileSync(spyOutput, 'utf8')).toMatch(/\bC_Logout\b/);
  });
});
