import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { AuditCheckpointRecord, AuditRepository } from '../../store/repositories.js';
import { encodeCheckpoint } from './encoding.js';
import type { FindingList } from './findings.js';
import { CheckpointDigests } from './vouch-digest.js';

/** Checkpoints read per query. */
const PAGE_SIZE = 1000;

/** The outcome of checking every checkpoint MAC. */
export interface CheckpointPass {
  /** Checkpoints whose MAC an available key verified. */
  valid: AuditCheckpointRecord[];
  /** Checkpoints whose key is not available, which a key rollover may vouch for. */
  unchecked: AuditCheckpointRecord[];
  count: number;
  last: { checkpoint: AuditCheckpointRecord; macValid: boolean } | undefined;
  /** Digests over the rows, for the ids that `digestIds` named and for the last id read. */
  digests: CheckpointDigests;
}

/**
 * Checks the MAC of every checkpoint whose key is in `keys`, reports each MAC that does not verify
 * as `checkpoint-forged`, and hashes every row for the key rollovers that vouch for them.
 */
export async function checkCheckpoints(
  repository: Pick<AuditRepository, 'listCheckpoints'>,
  keys: readonly CheckpointMacKey[],
  findings: FindingList,
  digestIds: Iterable<number>,
): Promise<CheckpointPass> {
  const pass: CheckpointPass = {
    valid: [],
    unchecked: [],
    count: 0,
    last: undefined,
    digests: new CheckpointDigests(digestIds),
  };
  let afterId = 0;
  for (;;) {
    const page = await repository.listCheckpoints(afterId, PAGE_SIZE);
    for (const checkpoint of page) {
      pass.digests.add(checkpoint);
      const macValid = await checkMac(checkpoint, keys, findings);
      if (macValid === true) {
        pass.valid.push(checkpoint);
      } else if (macValid === undefined) {
        pass.unchecked.push(checkpoint);
      }
      pass.count += 1;
      pass.last = { checkpoint, macValid: macValid === true };
      afterId = checkpoint.id;
    }
    if (page.length < PAGE_SIZE) {
      return pass;
    }
  }
}

/** Returns whether the MAC verifies, or undefined when the key it names is not available. */
async function checkMac(
  checkpoint: AuditCheckpointRecord,
  keys: readonly CheckpointMacKey[],
  findings: FindingList,
): Promise<boolean | undefined> {
  const key = keys.find(
    (candidate) =>
      candidate.provider === checkpoint.provider && candidate.keyId === checkpoint.keyId,
  );
  if (key === undefined) {
    return undefined;
  }

  const valid = await verifyMac(
    key,
    checkpoint.algorithm,
    encodeCheckpoint(checkpoint),
    checkpoint.mac,
  );
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

/** Verifies a stored hex MAC. A wrong algorithm or text that is not hex never verifies. */
export async function verifyMac(
  key: CheckpointMacKey,
  algorithm: string,
  data: Buffer,
  macHex: string,
): Promise<boolean> {
  const mac = /^[0-9a-f]+$/.test(macHex) ? Buffer.from(macHex, 'hex') : Buffer.alloc(0);
  return algorithm === key.algorithm && mac.length > 0 && (await key.verify(data, mac));
}

/** Reports a checkpoint whose key is not available and that no key rollover vouches for. */
export function reportUnavailableKey(
  checkpoint: AuditCheckpointRecord,
  findings: FindingList,
): void {
  findings.add({
    kind: 'checkpoint-key-unavailable',
    seq: checkpoint.eventSeq,
    checkpointId: checkpoint.id,
    message: `checkpoint ${checkpoint.id} (seq ${checkpoint.eventSeq}) was MAC'd with the ${checkpoint.provider} key '${checkpoint.keyId}', which is not available, so it cannot be checked`,
  });
}
