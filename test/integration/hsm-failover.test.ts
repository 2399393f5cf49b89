import { randomBytes } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError, StrongroomError } from '../../src/errors.js';
import { FailoverHsmProvider, type FailoverProviderOptions } from '../../src/keys/hsm/index.js';
import { generateAesKey, initSoftHsmToken } from '../../src/keys/hsm/softhsm-setup.js';
import type { MemberSettings } from '../../src/keys/hsm/failover/member.js';
import { generateAuditKeyDirect } from '../support/softhsm-direct.js';
import {
  changeUserPin,
  closeAllSessions,
  copyTokenFolder,
  findTokenFolder,
  removeTokenFolder,
  type TokenFolder,
} from '../support/softhsm-copy.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const available = softHsmAvailable();
const KEY_LABEL = 'pam-master-key';
const AUDIT_LABEL = `${KEY_LABEL}-audit`;
const AAD = Buffer.from('dek-1', 'ascii');

describe.skipIf(!available)('HSM failover group on SoftHSM slots', () => {
  let fixture: SoftHsmFixture;
  let primaryFolder: TokenFolder;
  let standbyFolder: TokenFolder;
  /** A copy of libsofthsm2.so: a second module instance that reads the same tokendir. */
  let secondLibrary: string;
  const memory = createMemoryLogger();

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey(KEY_LABEL);
    await fixture.generateAuditKey(AUDIT_LABEL);
    primaryFolder = await findTokenFolder(fixture, fixture.slotId);
    standbyFolder = await copyTokenFolder(fixture, primaryFolder);
    secondLibrary = join(fixture.directory, 'libsofthsm2-second.so');
    await copyFile(fixture.library, secondLibrary);

    // A token with the same labels and PIN but keys of its own.
    await initSoftHsmToken({
      configPath: fixture.configPath,
      label: 'other',
      soPin: 'other-so-pin-1234',
      userPin: fixture.userPin,
    });
    const other = { configPath: fixture.configPath, library: fixture.library };
    await generateAesKey({
      ...other,
      tokenLabel: 'other',
      userPin: fixture.userPin,
      keyLabel: KEY_LABEL,
    });
    await generateAuditKeyDirect({
      ...other,
      tokenLabel: 'other',
      userPin: fixture.userPin,
      keyLabel: AUDIT_LABEL,
    });
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  function member(path: string, slotId: number): MemberSettings {
    return { path, library: fixture.library, slot: { by: 'id', id: slotId } };
  }

  function primary(): MemberSettings {
    return member('hsm/primary.conf', fixture.slotId);
  }

  function standby(): MemberSettings {
    return member('hsm/standby.conf', standbyFolder.slotId);
  }

  /** The standby token through the second module instance, as a second HSM library would be. */
  function standbyModule(): MemberSettings {
    return { ...standby(), library: secondLibrary };
  }

  function otherKeys(): MemberSettings {
    return {
      path: 'hsm/other.conf',
      library: fixture.library,
      slot: { by: 'tokenLabel', label: 'other' },
    };
  }

  function createGroup(
    members: MemberSettings[],
    overrides: Partial<FailoverProviderOptions> = {},
  ): FailoverHsmProvider {
    return new FailoverHsmProvider({
      members,
      retryPrimarySeconds: 1,
      keyLabel: KEY_LABEL,
      auditKeyLabel: AUDIT_LABEL,
      pin: fixture.userPin,
      poolSize: 2,
      logger: memory.logger,
      ...overrides,
    });
  }

  async function openError(group: FailoverHsmProvider): Promise<StrongroomError> {
    try {
      await group.open();
    } catch (error) {
      if (isStrongroomError(error)) {
        return error;
      }
      throw error;
    } finally {
      await group.close();
    }
    throw new Error('open() succeeded');
  }

  async function expectRoundTrip(group: FailoverHsmProvider): Promise<void> {
    const dek = randomBytes(32);
    const wrapped = await group.wrap(dek, AAD);
    expect((await group.unwrap(wrapped, AAD)).equals(dek)).toBe(true);
  }

  it('opens the primary and serves from it', async () => {
    const group = createGroup([primary(), standby()]);
    await group.open();
    try {
      await expectRoundTrip(group);
      const { detail } = group.status();
      expect(detail['activeMember']).toBe(0);
      expect(detail['slotId']).toBe(fixture.slotId);
      expect(detail['failoverMembers']).toBe(2);
      expect(group.status().ready).toBe(true);
    } finally {
      await group.close();
    }
  });

  it('skips a primary slot that does not exist', async () => {
    const group = createGroup([member('hsm/primary.conf', 4242), standby()]);
    await group.open();
    try {
      expect(group.status().detail['activeMember']).toBe(1);
      expect(group.status().detail['slotId']).toBe(standbyFolder.slotId);
      await expectRoundTrip(group);
      expect(memory.output()).toContain('unreachable at start-up');
      expect(memory.output()).toContain('primary hsm/primary.conf (slot ID 4242)');
    } finally {
      await group.close();
    }
  });

  it('skips a primary whose token folder was removed', async () => {
    const restore = await removeTokenFolder(fixture, primaryFolder);
    try {
      const group = createGroup([primary(), standby()]);
      await group.open();
      try {
        expect(group.status().detail['activeMember']).toBe(1);
        await expectRoundTrip(group);
      } finally {
        await group.close();
      }
    } finally {
      await restore();
    }
  });

  it('fails when no member is reachable', async () => {
    const error = await openError(
      createGroup([member('hsm/a.conf', 4242), member('hsm/b.conf', 4343)]),
    );
    expect(error.code).toBe('SR_HSM_SLOT_NOT_FOUND');
    expect(error.message).toContain('4242');
  });

  it('refuses a member with another master key', async () => {
    const error = await openError(createGroup([primary(), standby(), otherKeys()]));
    expect(error.code).toBe('SR_HSM_FAILOVER_KEY_MISMATCH');
    expect(error.message).toContain("standby 2 hsm/other.conf (token 'other')");
    expect(error.message).toMatch(/key check value [0-9a-f]{6}, the group's has [0-9a-f]{6}/);
    expect(error.message).toContain('audit checkpoint key computes other MACs');
  });

  it('refuses another master key on the primary', async () => {
    const error = await openError(createGroup([otherKeys(), standby()]));
    expect(error.code).toBe('SR_HSM_FAILOVER_KEY_MISMATCH');
    expect(error.message).toContain('standby 1 hsm/standby.conf');
  });

  it('stops at a rejected PIN without trying the standby', async () => {
    const error = await openError(createGroup([primary(), standby()], { pin: 'wrong-pin-1' }));
    expect(error.code).toBe('SR_HSM_PIN_INCORRECT');
    expect(error.message).toContain('primary hsm/primary.conf');
    expect(memory.output()).not.toContain('wrong-pin-1');
    expect(memory.output()).not.toContain(fixture.userPin);
  });

  it('fails over at run time and back after the interval', async () => {
    const group = createGroup([primary(), standbyModule()]);
    await group.open();
    try {
      const dek = randomBytes(32);
      const wrapped = await group.wrap(dek, AAD);
      const checkpoint = Buffer.from('checkpoint 1', 'ascii');
      const { mac } = await group.signWithKey(AUDIT_LABEL, checkpoint);

      // The token disappears and its sessions are closed, as when an HSM goes away.
      const restore = await removeTokenFolder(fixture, primaryFolder);
      closeAllSessions(fixture.library, fixture.slotId);

      expect((await group.unwrap(wrapped, AAD)).equals(dek)).toBe(true);
      const afterFailover = group.status().detail;
      expect(afterFailover['activeMember']).toBe(1);
      expect(afterFailover['slotId']).toBe(standbyFolder.slotId);
      expect(afterFailover['failovers']).toBe(1);
      expect((await group.verifyWithKey(AUDIT_LABEL, checkpoint, mac)).valid).toBe(true);
      await expectRoundTrip(group);
      const switchLine = memory
        .output()
        .split('\n')
        .find((line) => line.includes('another member serves now'));
      expect(switchLine).toContain('primary hsm/primary.conf');
      expect(switchLine).toContain('standby 1 hsm/standby.conf');

      await restore();
      await waitFor(() => group.status().detail['activeMember'] === 0);
      expect(group.status().detail['failbacks']).toBe(1);
      expect(group.status().detail['slotId']).toBe(fixture.slotId);
      expect((await group.unwrap(wrapped, AAD)).equals(dek)).toBe(true);
      expect(memory.output()).not.toContain(fixture.userPin);
    } finally {
      await group.close();
    }
  }, 60_000);

  it('fails over between slots of one module under load', async () => {
    const group = createGroup([primary(), standby()]);
    await group.open();
    let restore: (() => Promise<void>) | undefined;
    try {
      const deks = Array.from({ length: 8 }, () => randomBytes(32));
      const wrapped = await Promise.all(deks.map((dek) => group.wrap(dek, AAD)));
      const outcomes: string[] = [];
      let running = true;
      let paused: Promise<void> | undefined;
      let inFlight = 0;

      // Eight callers unwrap without pause. They stop between two calls only while the token
      // folder moves away: SoftHSM answers a call that meets the moved folder with
      // CKR_OBJECT_HANDLE_INVALID, which is not a lost connection, before the sessions close.
      const callers = deks.map(async (dek, index) => {
        while (running) {
          await paused;
          inFlight++;
          try {
            const unwrapped = await group.unwrap(wrapped[index]!, AAD);
            outcomes.push(unwrapped.equals(dek) ? 'ok' : 'wrong DEK');
          } catch (error) {
            outcomes.push(isStrongroomError(error) ? error.code : String(error));
          } finally {
            inFlight--;
          }
        }
      });
      await waitFor(() => outcomes.length > 50);

      let resume = (): void => undefined;
      paused = new Promise((resolve) => (resume = resolve));
      await waitFor(() => inFlight === 0);
      restore = await removeTokenFolder(fixture, primaryFolder);
      closeAllSessions(fixture.library, fixture.slotId);
      const removedAt = outcomes.length;
      paused = undefined;
      resume();

      await waitFor(() => group.status().detail['activeMember'] === 1);
      const switchedAt = outcomes.length;
      await waitFor(() => outcomes.length > switchedAt + 100);
      running = false;
      await Promise.all(callers);

      const unexpected = outcomes.filter(
        (outcome) => !['ok', 'SR_HSM_UNAVAILABLE'].includes(outcome),
      );
      expect(unexpected).toEqual([]);
      expect(outcomes.slice(0, removedAt)).not.toContain('SR_HSM_UNAVAILABLE');
      expect(outcomes.slice(switchedAt + deks.length)).not.toContain('SR_HSM_UNAVAILABLE');
      expect(group.status().detail['failovers']).toBe(1);
    } finally {
      await group.close();
      await restore?.();
    }
  }, 60_000);

  it('never asks a standby again after a rejected PIN', async () => {
    const group = createGroup([primary(), standbyModule()]);
    await group.open();
    let restore: (() => Promise<void>) | undefined;
    try {
      const dek = randomBytes(32);
      const wrapped = await group.wrap(dek, AAD);

      // The standby token gets another PIN, and both members lose their sessions, so the
      // standby must log in again when the group switches to it.
      changeUserPin(secondLibrary, standbyFolder.slotId, fixture.userPin, 'changed-pin-5150');
      restore = await removeTokenFolder(fixture, primaryFolder);
      closeAllSessions(fixture.library, fixture.slotId);
      closeAllSessions(secondLibrary, standbyFolder.slotId);

      const first = await group.unwrap(wrapped, AAD).catch((error: unknown) => error);
      expect(isStrongroomError(first, 'SR_HSM_UNAVAILABLE')).toBe(true);
      expect(String(first)).toContain('standby 1 hsm/standby.conf');
      const second = await group.unwrap(wrapped, AAD).catch((error: unknown) => error);
      expect(isStrongroomError(second, 'SR_HSM_UNAVAILABLE')).toBe(true);

      const log = memory.output();
      expect(log.split('excluded until Strongroom restarts')).toHaveLength(2);
      expect(log).not.toContain('changed-pin-5150');
      expect(log).not.toContain(fixture.userPin);
      expect(group.status().detail['failovers']).toBe(0);
    } finally {
      await group.close();
      changeUserPin(secondLibrary, standbyFolder.slotId, 'changed-pin-5150', fixture.userPin);
      await restore?.();
    }
  }, 60_000);
});

/** Polls `condition` every 100 ms until it holds, and fails after 45 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 45_000;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('the condition did not hold within 45 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
