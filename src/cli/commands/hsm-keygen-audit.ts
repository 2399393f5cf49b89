import type { Logger } from 'pino';

import type { StrongroomConfig } from '../../config/load.js';
import { StrongroomError } from '../../errors.js';
import type { TokenSummary } from '../../keys/hsm/token-inspection.js';
import { openCliAudit } from '../cli-audit.js';

/** The key that `hsm keygen` generates: the master key or the audit checkpoint key. */
export interface KeygenTarget {
  purpose: 'master' | 'audit-checkpoint';
  label: string;
}

/**
 * Runs `generate` and records the new key as a 'key.generate' audit event with its label, CKA_ID
 * and token, never the PIN or key material. The audit log opens first, so an unreachable
 * database stops the command before the token changes. A failed event write cannot be undone by
 * deleting the key safely, so the SR_AUDIT_WRITE_FAILED error names the key that now exists.
 */
export async function generateAudited<Key extends TokenSummary & { id: string }>(
  config: StrongroomConfig,
  logger: Logger,
  target: KeygenTarget,
  generate: () => Promise<Key>,
  describe: (key: Key) => Record<string, string>,
): Promise<Key> {
  const audit = await openCliAudit(config, logger, `The generation of the key '${target.label}'`);
  try {
    const key = await generate();
    await audit
      ?.record({
        action: 'key.generate',
        objectType: 'hsm_key',
        objectId: target.label,
        outcome: 'success',
        reason: 'strongroom hsm keygen',
        details: {
          purpose: target.purpose,
          keyLabel: target.label,
          keyId: key.id,
          tokenLabel: key.tokenLabel,
          slotId: key.slotId,
          ...describe(key),
        },
      })
      .catch((error: unknown) => {
        throw keyNotAudited(target, key, error);
      });
    return key;
  } finally {
    await audit?.close();
  }
}

function keyNotAudited(
  target: KeygenTarget,
  key: TokenSummary & { id: string },
  error: unknown,
): StrongroomError {
  return new StrongroomError(
    'SR_AUDIT_WRITE_FAILED',
    `The key '${target.label}' (ID ${key.id}) was created on the token '${key.tokenLabel}', slot ID ${key.slotId}, but its audit event could not be written. Check that the database is writable, then record the key generation by hand, or delete the key with the token's own tools if it must not be used.`,
    { cause: error },
  );
}
