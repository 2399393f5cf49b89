import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { AuditCheckpointRecord, AuditRepository } from '../../store/repositories.js';
import { encodeCheckpoint } from './encoding.js';
import type { FindingList } from './findings.js';
import { describeCheckpoint, type CheckpointSummary } from './report.js';

/** Checkpoints read per query. */
const PAGE_SIZE = 1000;

/** Checks the MAC of every checkpoint and returns those whose MAC is valid. */
export async function checkCheckpoints(
  repository: Pick<AuditRepository, 'listCheckpoints'>,
  keys: readonly CheckpointMacKey[],
  findings: FindingList,
): Promise<{ valid: AuditCheckpointRecord[]; count: number; last: CheckpointSummary | null }> {
  const valid: AuditCheckpointRecord[] = [];
  let count = 0;
  let last: CheckpointSummary | null = null;
  let afterId = 0;
  for (;;) {
    const page = await repository.listCheckpoints(afterId, PAGE_SIZE);
    for (const checkpoint of page) {
      const macValid = await checkMac(checkpoint, keys, findings);
      if (macValid) {
        valid.push(checkpoint);
      }
      count += 1;
      last = describeCheckpoint(checkpoint, macValid);
      afterId = checkpoint.id;
    }
    if (page.length < PAGE_SIZE) {
      return { valid, count, last };
    }
  }
}

async function checkMac(
  checkpoint: AuditCheckpointRecord,
  keys: readonly CheckpointMacKey[],
  findings: FindingList,
): Promise<boolean> {
  const key = keys.find(
    (candidate) =>
      candidate.provider === checkpoint.provider && candidate.keyId === checkpoint.keyId,
  );
  if (key === undefined) {
    findings.add({
      kind: 'checkpoint-key-unavailable',
      seq: checkpoint.eventSeq,
      checkpointId: checkpoint.id,
      message: `checkpoint ${checkpoint.id} (seq ${checkpoint.eventSeq}) was MAC'd with the ${checkpoint.provider} key '${checkpoint.keyId}', which is not available, so it cannot be checked`,
    });
    return false;
  }

  const mac = /^[0-9a-f]+$/.test(checkpoint.mac)
    ? Buffer.from(checkpoint.mac, 'hex')
    : Buffer.alloc(0);
  const valid =
    checkpoint.algorithm === key.algorithm &&
    mac.length > 0 &&
    (await key.verify(encodeCheckpoint(checkpoint), mac));
  if (!valid) {
    findings.add({
      kind: 'checkpoint-forged',
      seq: checkpoint.eventSeq,
      checkpointId: checkpoint.id,
      message: `checkpoint ${checkpoint.id} (seq ${checkpoint.eventSeq}) has a MAC that the key '${checkpoint.keyId}' does not verify: the checkpoint was forged or changed`,
    });
  }
  return valid;
}
