import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { dekAssociatedData, secretAssociatedData } from '../crypto/associated-data.js';
import { openGcm, sealGcm } from '../crypto/aes-gcm.js';
import { createFileProvider } from '../keys/file/file-provider.js';
import { createKeyFile } from '../keys/file/key-file.js';
import type { MasterKeyProvider, WrappedKey } from '../keys/types.js';
import { runConcurrently, runSynchronously, type TimedRun } from './timing.js';
import type { Benchmark, BenchmarkReport, Measurement } from './types.js';

/** Size of each secret in bytes. */
const SECRET_BYTES = 1024;
const MEASURE_MS = 3_000;
const WARMUP_MS = 300;

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

/** A 1 KiB record sealed the way the vault seals a secret: its own DEK, wrapped by the master key. */
interface SealedRecord {
  id: string;
  dekId: string;
  wrapped: WrappedKey;
  ciphertext: Buffer;
}

/**
 * Compares Strongroom's envelope encryption of 1 KiB secrets with the AWS Encryption SDK for
 * JavaScript and with bare AES-256-GCM, all on this thread.
 */
export const envelopeBenchmark: Benchmark = {
  id: 'envelope',
  async run() {
    const directory = await mkdtemp(join(tmpdir(), 'strongroom-bench-envelope-'));
    try {
      const keyPath = join(directory, 'master.key');
      await createKeyFile(keyPath);
      const provider = createFileProvider({ path: keyPath });
      await provider.open();
      try {
        return await measureAll(provider);
      } finally {
        await provider.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  },
};

async function measureAll(provider: MasterKeyProvider): Promise<BenchmarkReport> {
  const secret = randomBytes(SECRET_BYTES);
  const sealed = await sealRecord(provider, secret);
  const timed = async (task: () => Promise<void>): Promise<TimedRun> => {
    await runConcurrently(WARMUP_MS, 1, task);
    return runConcurrently(MEASURE_MS, 1, task);
  };

  const strongroomSeal = await timed(async () => void (await sealRecord(provider, secret)));
  const strongroomOpen = await timed(async () => {
    (await openRecord(provider, sealed)).fill(0);
  });

  const keyring = new RawAesKeyringNode({
    keyName: 'bench-key',
    keyNamespace: 'strongroom-bench',
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const context = { purpose: 'strongroom-bench' };
  const esdk = async (suiteId?: AlgorithmSuiteIdentifier) => {
    const options =
      suiteId === undefined
        ? { encryptionContext: context }
        : { encryptionContext: context, suiteId };
    const { result } = await encrypt(keyring, secret, options);
    return {
      seal: await timed(async () => void (await encrypt(keyring, secret, options))),
      open: await timed(async () => void (await decrypt(keyring, result))),
    };
  };
  const esdkDefault = await esdk();
  const esdkUnsigned = await esdk(
    AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  );

  const key = randomBytes(32);
  const aad = secretAssociatedData(sealed.id, sealed.dekId, 1);
  const bare = sealGcm(key, secret, aad);
  runSynchronously(WARMUP_MS, () => sealGcm(key, secret, aad));
  const gcmSeal = runSynchronously(MEASURE_MS, () => sealGcm(key, secret, aad));
  const gcmOpen = runSynchronously(MEASURE_MS, () => openGcm(key, bare, aad));

  return buildReport({
    strongroomSeal,
    strongroomOpen,
    esdkSeal: esdkDefault.seal,
    esdkOpen: esdkDefault.open,
    esdkUnsignedSeal: esdkUnsigned.seal,
    esdkUnsignedOpen: esdkUnsigned.open,
    gcmSeal,
    gcmOpen,
  });
}

/** Seals a secret as VaultService.createAccount does: a new DEK, wrapped, then AES-GCM with AAD. */
async function sealRecord(provider: MasterKeyProvider, secret: Buffer): Promise<SealedRecord> {
  const id = randomUUID();
  const dekId = randomUUID();
  const dek = randomBytes(32);
  try {
    const wrapped = await provider.wrap(dek, dekAssociatedData(dekId));
    const ciphertext = sealGcm(dek, secret, secretAssociatedData(id, dekId, 1));
    return { id, dekId, wrapped, ciphertext };
  } finally {
    dek.fill(0);
  }
}

/** Opens a record as a reveal does when its DEK is not cached: unwrap, then AES-GCM. */
async function openRecord(provider: MasterKeyProvider, record: SealedRecord): Promise<Buffer> {
  const dek = await provider.unwrap(record.wrapped, dekAssociatedData(record.dekId));
  try {
    return openGcm(dek, record.ciphertext, secretAssociatedData(record.id, record.dekId, 1));
  } finally {
    dek.fill(0);
  }
}

interface EnvelopeRuns {
  strongroomSeal: TimedRun;
  strongroomOpen: TimedRun;
  esdkSeal: TimedRun;
  esdkOpen: TimedRun;
  esdkUnsignedSeal: TimedRun;
  esdkUnsignedOpen: TimedRun;
  gcmSeal: TimedRun;
  gcmOpen: TimedRun;
}

function buildReport(runs: EnvelopeRuns): BenchmarkReport {
  const row = (label: string, run: TimedRun, method: string): Measurement => ({
    label,
    perSecond: run.perSecond,
    operations: run.operations,
    seconds: run.seconds,
    method,
  });
  const ratio = (a: TimedRun, b: TimedRun) => (a.perSecond / b.perSecond).toFixed(2);
  const oneAtATime = 'main thread, 1 in flight';

  return {
    title: 'Envelope encryption of 1 KiB secrets',
    description: [
      'Strongroom: what the vault does per secret with the key file as master key. Sealing makes a ' +
        'random 32-byte DEK, wraps it with AES-256-GCM under the master key (associated data: the DEK id) ' +
        'and seals the secret with AES-256-GCM under the DEK (associated data: account id, DEK id, ' +
        'version). Opening unwraps the DEK and opens the secret, as a reveal does when the DEK is not ' +
        'cached. No database is involved.',
      `AWS Encryption SDK: @aws-crypto/client-node ${readPackageVersion('@aws-crypto/client-node')} with a raw AES-256 keyring ` +
        '(AES256_GCM_IV12_TAG16_NO_PADDING) and the commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT. ' +
        'Its default algorithm suite signs each message with ECDSA P-384; the second pair of rows uses ' +
        'the committing suite without a signature (ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY).',
      'Bare AES-256-GCM: node:crypto with one fixed key and the same associated data, the upper limit for any envelope scheme on this machine.',
      `Each measurement runs for ${MEASURE_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up, one operation at a time.`,
    ],
    measurements: [
      row('Strongroom seal (new DEK, wrap, encrypt)', runs.strongroomSeal, oneAtATime),
      row('Strongroom open (unwrap, decrypt)', runs.strongroomOpen, oneAtATime),
      row('AWS Encryption SDK encrypt, default suite', runs.esdkSeal, oneAtATime),
      row('AWS Encryption SDK decrypt, default suite', runs.esdkOpen, oneAtATime),
      row('AWS Encryption SDK encrypt, unsigned suite', runs.esdkUnsignedSeal, oneAtATime),
      row('AWS Encryption SDK decrypt, unsigned suite', runs.esdkUnsignedOpen, oneAtATime),
      row('bare AES-256-GCM seal', runs.gcmSeal, 'main thread, synchronous'),
      row('bare AES-256-GCM open', runs.gcmOpen, 'main thread, synchronous'),
    ],
    summary: [
      `Ratio Strongroom / AWS Encryption SDK (default suite), seal: ${ratio(runs.strongroomSeal, runs.esdkSeal)}, open: ${ratio(runs.strongroomOpen, runs.esdkOpen)} (target: at least 3)`,
      `Ratio Strongroom / AWS Encryption SDK (unsigned suite), seal: ${ratio(runs.strongroomSeal, runs.esdkUnsignedSeal)}, open: ${ratio(runs.strongroomOpen, runs.esdkUnsignedOpen)}`,
      `Ratio Strongroom / bare AES-256-GCM, seal: ${ratio(runs.strongroomSeal, runs.gcmSeal)}, open: ${ratio(runs.strongroomOpen, runs.gcmOpen)}`,
    ],
    environment: {},
  };
}

function readPackageVersion(name: string): string {
  try {
    const path = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
