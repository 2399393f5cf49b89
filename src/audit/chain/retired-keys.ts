import type { AuditCheckpointRecord } from '../../store/repositories.js';
import type { RetiredKeySummary } from './report.js';
import type { RolloverVerdict } from './rollover-check.js';

/**
 * Groups the checkpoints of retired keys that rollovers vouch for, per key and rollover, so that
 * a report names each retired key once instead of each checkpoint.
 */
export function summariseRetiredKeys(
  vouched: ReadonlyMap<AuditCheckpointRecord, RolloverVerdict>,
): RetiredKeySummary[] {
  const groups = new Map<string, RetiredKeySummary>();
  for (const [checkpoint, verdict] of vouched) {
    const { rollover } = verdict;
    const name = `${checkpoint.provider}\u0000${checkpoint.keyId}\u0000${rollover.id}`;
    const group = groups.get(name) ?? {
      provider: checkpoint.provider,
      keyId: checkpoint.keyId,
      checkpointCount: 0,
      firstSeq: checkpoint.eventSeq,
      lastSeq: checkpoint.eventSeq,
      rolloverId: rollover.id,
      rolloverSeq: rollover.eventSeq,
      message: '',
    };
    group.checkpointCount += 1;
    group.firstSeq = Math.min(group.firstSeq, checkpoint.eventSeq);
    group.lastSeq = Math.max(group.lastSeq, checkpoint.eventSeq);
    groups.set(name, group);
  }

  return [...groups.values()].map((group) => ({
    ...group,
    message: `${group.checkpointCount} checkpoint(s) from seq ${group.firstSeq} to ${group.lastSeq} were sealed by the retired ${group.provider} key '${group.keyId}', which is not available. Key rollover ${group.rolloverId} at seq ${group.rolloverSeq} verified them and vouches for them`,
  }));
}
