import type { AuditLog } from '../../audit/types.js';
import type { StrongroomConfig } from '../../config/load.js';
import type { Keyring } from '../../keys/keyring.js';

/** The actor of the events that quickstart records, as for the administrator it creates. */
const ACTOR = 'quickstart';

/**
 * Records a `key.generate` event for each key that quickstart made before the database existed:
 * the file master key, or the SoftHSM master key and audit checkpoint key. The events carry the
 * key check value of the master key, never key material or a PIN. Rejects with
 * SR_AUDIT_WRITE_FAILED when an event cannot be written.
 */
export async function recordQuickstartKeys(
  audit: AuditLog,
  keyring: Keyring,
  config: StrongroomConfig,
): Promise<void> {
  const master = keyring.activeRef();
  const common = {
    actor: ACTOR,
    action: 'key.generate',
    outcome: 'success' as const,
    reason: 'strongroom quickstart',
    clientAddress: 'cli',
  };

  if (config.hsm === undefined) {
    await audit.record({
      ...common,
      objectType: 'key_file',
      objectId: config.keyFile,
      details: { purpose: 'master', keyFile: config.keyFile, keyId: master.keyId, kcv: master.kcv },
    });
    return;
  }

  const slot = config.hsm.providerFile.slot;
  const tokenLabel = slot.by === 'tokenLabel' ? slot.label : '';
  await audit.record({
    ...common,
    objectType: 'hsm_key',
    objectId: master.keyId,
    details: { purpose: 'master', keyLabel: master.keyId, tokenLabel, kcv: master.kcv },
  });
  await audit.record({
    ...common,
    objectType: 'hsm_key',
    objectId: config.hsm.auditKeyLabel,
    details: {
      purpose: 'audit-checkpoint',
      keyLabel: config.hsm.auditKeyLabel,
      tokenLabel,
      algorithm: 'hmac-sha256',
    },
  });
}
