import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { StrongroomError } from '../../src/errors.js';
import type { GroupMember } from '../../src/keys/hsm/failover/group-open.js';
import { MemberSwitch } from '../../src/keys/hsm/failover/member-switch.js';
import type { HsmProvider } from '../../src/keys/hsm/provider.js';

const KCV = 'a1b2c3';
const MECHANISM = 'aes-gcm';

/**
 * A member provider that passes the probe as a working token does: wrap returns the DEK with
 * a marker, unwrap removes it. A real token cannot be made to fail at a chosen instant of a switch,
 * which is the race under test.
 */
function workingProvider(): HsmProvider {
  const stand = {
    wrap: async (dek: Buffer) => ({ wrapped: Buffer.concat([Buffer.from([7]), dek]) }),
    unwrap: async (key: { wrapped: Buffer }) => Buffer.from(key.wrapped.subarray(1)),
    signWithKey: async () => ({ algorithm: 'hmac-sha256', mac: Buffer.alloc(4) }),
    status: () => ({ kind: 'hsm', ready: true, keyId: 'k', detail: { mechanism: MECHANISM } }),
    ref: () => ({ provider: 'hsm', keyId: 'k', kcv: KCV }),
    close: async () => undefined,
  };
  return stand as unknown as HsmProvider;
}

function member(index: number): GroupMember & { provider: HsmProvider } {
  return {
    index,
    name: index === 0 ? 'primary' : 'standby',
    settings: { path: `hsm/${index}.conf`, library: '/lib.so', slot: { by: 'id', id: index } },
    sharesModule: false,
    provider: workingProvider(),
    excluded: false,
  };
}

describe('HSM failover member switch', () => {
  it('ignores a stale failure after failback', async () => {
    const primary = member(0);
    const standby = member(1);
    const switches = new MemberSwitch(
      {
        members: [primary, standby],
        reference: { kcv: KCV, mechanism: MECHANISM, audit: 'hmac-sha256:00000000' },
        active: primary,
      },
      {
        keyLabel: 'k',
        pin: 'unused',
        poolSize: 1,
        auditKeyLabel: 'k-audit',
        retryPrimarySeconds: 0.02,
      } as never,
      pino({ level: 'silent' }),
    );
    const lost = new StrongroomError('SR_HSM_UNAVAILABLE', 'the token could not be reached');
    try {
      const before = switches.turn;
      await switches.switchFrom(before, lost);
      expect(switches.active).toBe(standby);

      // The primary passes its probe after the retry interval and serves again.
      for (let waited = 0; switches.active !== primary && waited < 2_000; waited += 10) {
        await sleep(10);
      }
      expect(switches.active).toBe(primary);

      // A request that picked the primary before the failover reports its failure only now.
      await switches.switchFrom(before, lost);
      expect(switches.active).toBe(primary);
      expect({ failovers: switches.failovers, failbacks: switches.failbacks }).toEqual({
        failovers: 1,
        failbacks: 1,
      });

      // A failure in the current turn still switches.
      await switches.switchFrom(switches.turn, lost);
      expect(switches.active).toBe(standby);
      expect(switches.failovers).toBe(2);
    } finally {
      await switches.stop();
    }
  });
});
