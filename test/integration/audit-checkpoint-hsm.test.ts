import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { appendEvents } from '../support/audit-chain.js';
import { createCheckpoint } from '../../src/audit/chain/checkpoints.js';
import { encodeCheckpoint } from '../../src/audit/chain/encoding.js';
import { verifyAuditChain } from '../../src/audit/chain/verify.js';
import { isStrongroomError, type StrongroomError } from '../../src/errors.js';
import { openHsmCheckpointKey } from '../../src/keys/hsm/checkpoint-key.js';
import { HsmProvider } from '../../src/keys/hsm/provider.js';
import type { CheckpointMacKey } from '../../src/keys/mac-key.js';
import { describeEachDialect } from '../support/databases.js';
import { generateAuditKeyDirect } from '../support/softhsm-direct.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const available = softHsmAvailable();

describe.skipIf(!available)('audit checkpoint keys on SoftHSM', () => {
  let fixture: SoftHsmFixture;
  let provider: HsmProvider;
  const memory = createMemoryLogger();

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey('pam-master-key');
    const direct = {
      library: fixture.library,
      configPath: fixture.configPath,
      tokenLabel: fixture.tokenLabel,
      userPin: fixture.userPin,
    };
    await generateAuditKeyDirect({ ...direct, keyLabel: 'hmac-audit' });
    await generateAuditKeyDirect({ ...direct, keyLabel: 'cmac-audit', aes: true });
    await generateAuditKeyDirect({ ...direct, keyLabel: 'open-audit', extractable: true });
    await generateAuditKeyDirect({ ...direct, keyLabel: 'verify-only-audit', sign: false });

    provider = new HsmProvider({
      library: fixture.library,
      slot: { by: 'tokenLabel', label: fixture.tokenLabel },
      keyLabel: 'pam-master-key',
      pin: fixture.userPin,
      logger: memory.logger,
    });
    await provider.open();
  });

  afterAll(async () => {
    await provider?.close();
    await fixture?.cleanup();
  });

  async function openError(label: string): Promise<StrongroomError> {
    const error = await openHsmCheckpointKey(provider, label).catch((caught: unknown) => caught);
    if (!isStrongroomError(error)) {
      throw new Error(`expected a StrongroomError, got ${String(error)}`);
    }
    return error;
  }

  for (const [label, algorithm, bytes] of [
    ['hmac-audit', 'hmac-sha256', 32],
    ['cmac-audit', 'aes-cmac', 16],
  ] as const) {
    it(`${algorithm} key signs and verifies`, async () => {
      const key = await openHsmCheckpointKey(provider, label);
      const data = Buffer.from('checkpoint bytes');

      const mac = await key.sign(data);

      expect(key).toMatchObject({ provider: 'hsm', keyId: label, algorithm });
      expect(mac).toHaveLength(bytes);
      expect(await key.verify(data, mac)).toBe(true);
      expect(await key.verify(Buffer.from('checkpoint bytez'), mac)).toBe(false);
      const flipped = Buffer.from(mac);
      flipped[0] = flipped[0]! ^ 1;
      expect(await key.verify(data, flipped)).toBe(false);
      expect(await key.verify(data, mac.subarray(0, 8))).toBe(false);
    });
  }

  it('missing key names label and command', async () => {
    const error = await openError('pam-master-key-audit');

    expect(error.code).toBe('SR_AUDIT_KEY_NOT_FOUND');
    expect(error.message).toContain("'pam-master-key-audit'");
    expect(error.message).toContain('strongroom hsm keygen --audit');
    expect(error.details).toEqual({ keyLabel: 'pam-master-key-audit' });
  });

  it('extractable key is rejected', async () => {
    const error = await openError('open-audit');

    expect(error.code).toBe('SR_AUDIT_KEY_INVALID');
    expect(error.message).toContain('CKA_EXTRACTABLE is true');
  });

  it('key without CKA_SIGN is rejected', async () => {
    const error = await openError('verify-only-audit');

    expect(error.code).toBe('SR_AUDIT_KEY_INVALID');
    expect(error.message).toContain('CKA_SIGN is false');
  });

  it('master key label is rejected as a MAC key', async () => {
    const error = await openError('pam-master-key');

    expect(error.code).toBe('SR_AUDIT_KEY_INVALID');
    expect(error.message).toContain('is the label of the master key');
  });

  describeEachDialect('chain with HSM checkpoints', (context) => {
    for (const label of ['hmac-audit', 'cmac-audit']) {
      it(`${label} checkpoint verifies and a forged one fails`, async () => {
        const url = await context.createDatabase();
        const store = await context.openStore({ url });
        const key: CheckpointMacKey = await openHsmCheckpointKey(provider, label);
        await appendEvents(store, context.logger, 5);
        const head = await store.audit.readChainHead();
        const checkpoint = await createCheckpoint(key, head, new Date('2030-01-02T04:00:00.000Z'));
        const id = await store.audit.insertCheckpoint(checkpoint);

        const intact = await verifyAuditChain(store.audit, [key]);
        expect(intact.findings).toEqual([]);
        expect(intact.lastCheckpoint).toMatchObject({ id, keyId: label, macValid: true });
        expect(
          await key.verify(encodeCheckpoint(checkpoint), Buffer.from(checkpoint.mac, 'hex')),
        ).toBe(true);

        await context.runSql(
          url,
          `update audit_checkpoints set created_at = '2031-01-01T00:00:00.000Z'`,
        );
        const forged = await verifyAuditChain(store.audit, [key]);
        expect(forged.findings).toEqual([
          expect.objectContaining({ kind: 'checkpoint-forged', seq: 5, checkpointId: id }),
        ]);
      });
    }
  });
});
