import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { AuditKeyRolloverRecord } from '../../store/repositories.js';
import { verifyMac } from './checkpoint-check.js';
import { encodeRollover } from './encoding.js';
import type { FindingList } from './findings.js';
import type { RolloverStatus, RolloverSummary } from './report.js';
import { vouchedDigest, type CheckpointDigests } from './vouch-digest.js';

/** A key rollover and what verification found about it. */
export interface RolloverVerdict {
  rollover: AuditKeyRolloverRecord;
  status: RolloverStatus;
  /** Whether the rows it vouches for are still the rows it hashed. */
  digestMatches: boolean;
}

/**
 * Checks every key rollover, newest first. A rollover is `verified` when an available key verifies
 * its old or new MAC and no available key rejects either. One whose keys are both unavailable is
 * `vouched` when a later rollover that is verified or vouched, and whose digest matches, vouches
 * for it. Reports `rollover-forged`, `rollover-key-unavailable` and `rollover-mismatch`. `digests`
 * must have been made with the vouched checkpoint id of every rollover.
 */
export async function checkRollovers(
  rollovers: readonly AuditKeyRolloverRecord[],
  keys: readonly CheckpointMacKey[],
  digests: CheckpointDigests,
  findings: FindingList,
): Promise<RolloverVerdict[]> {
  const verdicts: RolloverVerdict[] = [];
  for (const rollover of [...rollovers].reverse()) {
    let status = await checkRolloverMacs(rollover, keys);
    if (
      status === 'key-unavailable' &&
      findVoucher(verdicts, (later) => later.vouchedRolloverId >= rollover.id)
    ) {
      status = 'vouched';
    }
    const digestMatches =
      rollover.vouchedDigest ===
      vouchedDigest(
        rollover.vouchedCheckpointId,
        digests.through(rollover.vouchedCheckpointId),
        rollover.vouchedRolloverId,
        rollovers,
      );
    report(rollover, status, digestMatches, findings);
    verdicts.unshift({ rollover, status, digestMatches });
  }
  return verdicts;
}

/**
 * Returns the oldest rollover that is verified or vouched, whose digest matches, and that `covers`
 * accepts. Its digest proves that what it vouches for is unchanged since it was written.
 */
export function findVoucher(
  verdicts: readonly RolloverVerdict[],
  covers: (rollover: AuditKeyRolloverRecord) => boolean,
): RolloverVerdict | undefined {
  return verdicts.find(
    (verdict) =>
      (verdict.status === 'verified' || verdict.status === 'vouched') &&
      verdict.digestMatches &&
      covers(verdict.rollover),
  );
}

export function describeRollover(verdict: RolloverVerdict): RolloverSummary {
  const { rollover } = verdict;
  return {
    id: rollover.id,
    eventSeq: rollover.eventSeq,
    createdAt: rollover.createdAt,
    oldProvider: rollover.oldProvider,
    oldKeyId: rollover.oldKeyId,
    newProvider: rollover.newProvider,
    newKeyId: rollover.newKeyId,
    status: verdict.status,
    vouchedCheckpointId: rollover.vouchedCheckpointId,
    vouchedRolloverId: rollover.vouchedRolloverId,
    digestMatches: verdict.digestMatches,
  };
}

async function checkRolloverMacs(
  rollover: AuditKeyRolloverRecord,
  keys: readonly CheckpointMacKey[],
): Promise<RolloverStatus> {
  const data = encodeRollover(rollover);
  const sides = [
    {
      provider: rollover.oldProvider,
      keyId: rollover.oldKeyId,
      algorithm: rollover.oldAlgorithm,
      mac: rollover.oldMac,
    },
    {
      provider: rollover.newProvider,
      keyId: rollover.newKeyId,
      algorithm: rollover.newAlgorithm,
      mac: rollover.newMac,
    },
  ];
  let verified = false;
  for (const side of sides) {
    const key = keys.find(
      (candidate) => candidate.provider === side.provider && candidate.keyId === side.keyId,
    );
    if (key === undefined) {
      continue;
    }
    if (!(await verifyMac(key, side.algorithm, data, side.mac))) {
      return 'forged';
    }
    verified = true;
  }
  return verified ? 'verified' : 'key-unavailable';
}

function report(
  rollover: AuditKeyRolloverRecord,
  status: RolloverStatus,
  digestMatches: boolean,
  findings: FindingList,
): void {
  const name = `key rollover ${rollover.id} (seq ${rollover.eventSeq}, ${rollover.oldProvider} key '${rollover.oldKeyId}' to ${rollover.newProvider} key '${rollover.newKeyId}')`;
  if (status === 'forged') {
    findings.add({
      kind: 'rollover-forged',
      seq: rollover.eventSeq,
      rolloverId: rollover.id,
      message: `${name} has a MAC that its key does not verify: the rollover was forged or changed`,
    });
  } else if (status === 'key-unavailable') {
    findings.add({
      kind: 'rollover-key-unavailable',
      seq: rollover.eventSeq,
      rolloverId: rollover.id,
      message: `${name} cannot be checked: neither key is available and no later rollover vouches for it`,
    });
  } else if (!digestMatches) {
    findings.add({
      kind: 'rollover-mismatch',
      seq: rollover.eventSeq,
      rolloverId: rollover.id,
      message: `${name} vouched for checkpoints up to ${rollover.vouchedCheckpointId} and rollovers up to ${rollover.vouchedRolloverId}, but those rows were changed, added or deleted since, so it vouches for none of them`,
    });
  }
}
