import { randomBytes } from 'node:crypto';
import pino from 'pino';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import {
  createHsmProvider,
  finalizeModule,
  findMasterKey,
  gcmMechanism,
  initializeModule,
  listSlots,
  loadModule,
  loginUser,
  newGcmIv,
  selectSlot,
  type HsmLog,
} from '../keys/hsm/index.js';
import { runConcurrently, runSynchronously, type TimedRun } from './timing.js';

/** Length of each measurement, and of the warm-up before it. */
export const MEASURE_MS = 3_000;
export const WARMUP_MS = 300;

/** The token and master key that a measurement uses. */
export interface BenchToken {
  library: string;
  tokenLabel: string;
  keyLabel: string;
  pin: string;
}

const quietLog: HsmLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Encrypt and decrypt pairs with CKM_AES_GCM in one session, synchronous calls on this thread. */
export function measureRawGcm(token: BenchToken): TimedRun {
  const pkcs11: PKCS11 = loadModule(token.library);
  initializeModule(pkcs11, token.library, quietLog);
  const slot = selectSlot(listSlots(pkcs11), { by: 'tokenLabel', label: token.tokenLabel });
  const session = pkcs11.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION);

  try {
    const tokenFlags = slot.token?.flags ?? 0;
    loginUser(pkcs11, session, token.pin, { label: token.tokenLabel, flags: tokenFlags }, quietLog);
    const key = findMasterKey(pkcs11, session, token.keyLabel);
    const plaintext = randomBytes(32);
    const aad = Buffer.from('dek:benchmark');
    const sealedBuffer = Buffer.alloc(plaintext.length + 16);
    const openedBuffer = Buffer.alloc(plaintext.length + 16);

    const pair = (): void => {
      const mechanism = gcmMechanism(newGcmIv(), aad);
      pkcs11.C_EncryptInit(session, mechanism, key);
      const sealed = pkcs11.C_Encrypt(session, plaintext, sealedBuffer);
      pkcs11.C_DecryptInit(session, mechanism, key);
      pkcs11.C_Decrypt(session, sealed, openedBuffer);
    };
    runSynchronously(WARMUP_MS, pair);
    return runSynchronously(MEASURE_MS, pair);
  } finally {
    pkcs11.C_Logout(session);
    pkcs11.C_CloseSession(session);
    finalizeModule(pkcs11, token.library, quietLog);
    pkcs11.close();
  }
}

/** wrap() and unwrap() pairs through the provider: worker thread, async calls, `poolSize` sessions. */
export async function measureProvider(
  token: BenchToken,
  poolSize: number,
  inFlight: number,
): Promise<TimedRun> {
  const provider = createHsmProvider({
    library: token.library,
    slot: { by: 'tokenLabel', label: token.tokenLabel },
    keyLabel: token.keyLabel,
    pin: token.pin,
    poolSize,
    logger: pino({ level: 'warn' }),
  });
  await provider.open();

  try {
    const dek = randomBytes(32);
    const aad = Buffer.from('dek:benchmark');
    const pair = async (): Promise<void> => {
      const unwrapped = await provider.unwrap(await provider.wrap(dek, aad), aad);
      unwrapped.fill(0);
    };
    await runConcurrently(WARMUP_MS, inFlight, pair);
    return await runConcurrently(MEASURE_MS, inFlight, pair);
  } finally {
    await provider.close();
  }
}

/**
 * Measures wrapMany() with reopen of `batchSize` DEKs through the provider, with `inFlight`
 * batches at once, on batch threads or on `batchProcesses` processes. Returns the rate in DEKs per
 * second, each DEK being one wrap and one decryption that opens it again.
 */
export async function measureProviderBatches(
  token: BenchToken,
  settings: { poolSize: number; batchProcesses: number; batchSize: number; inFlight: number },
): Promise<TimedRun> {
  const { poolSize, batchProcesses, batchSize, inFlight } = settings;
  const provider = createHsmProvider({
    library: token.library,
    slot: { by: 'tokenLabel', label: token.tokenLabel },
    keyLabel: token.keyLabel,
    pin: token.pin,
    poolSize,
    batchProcesses,
    logger: pino({ level: 'warn' }),
  });
  await provider.open();

  try {
    const requests = Array.from({ length: batchSize }, (_, index) => ({
      dek: randomBytes(32),
      aad: Buffer.from(`dek:benchmark-${index}`),
    }));
    const batch = async (): Promise<void> => {
      const wrapped = await provider.wrapMany(requests, { reopen: true });
      for (const result of wrapped) {
        if (!result.ok) {
          throw result.error;
        }
      }
    };
    await runConcurrently(WARMUP_MS, inFlight, batch);
    const run = await runConcurrently(MEASURE_MS, inFlight, batch);
    const operations = run.operations * batchSize;
    return { operations, seconds: run.seconds, perSecond: operations / run.seconds };
  } finally {
    await provider.close();
  }
}
