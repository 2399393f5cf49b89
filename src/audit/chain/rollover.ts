import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type { AuditRepository } from '../../store/repositories.js';
import type { AuditLog } from '../types.js';
import { createCheckpoint } from './checkpoints.js';
import { encodeRollover, type RolloverFields } from './encoding.js';
import type { ChainFindingKind } from './report.js';
import { analyseAuditChain, type ChainRepository } from './verify.js';
import { CheckpointDigests, vouchedDigest } from './vouch-digest.js';

/** Findings about checkpoints or rollovers. Any of them keeps a rollover from vouching. */
const CHECKPOINT_KINDS: ReadonlySet<ChainFindingKind> = new Set([
  'checkpoint-forged',
  'checkpoint-key-unavailable',
  'rollover-forged',
  'rollover-key-unavailable',
  'rollover-mismatch',
]);

/** The action of the audit event that a key rollover records. */
export const ROLLOVER_ACTION = 'key.rollover';

export interface RolloverOptions {
  repository: ChainRepository & Pick<AuditRepository, 'insertRollover' | 'insertCheckpoint'>;
  audit: AuditLog;
  /** The actor of the audit event, for example `os:root`. */
  actor: string;
  /** The reason for the key change in the audit event, for example `strongroom dek renew`. */
  reason: string;
  /** The checkpoint key in use until now, and the one that the new master key brings. */
  oldKey: CheckpointMacKey;
  newKey: CheckpointMacKey;
  /** Further keys that can check older checkpoints, such as the other provider's. */
  otherKeys?: readonly CheckpointMacKey[];
  now?: () => Date;
}

/** The ids and counts of a key rollover that was written. */
export interface RolloverResult {
  rolloverId: number;
  /** The chain head that the rollover and the new key's checkpoint cover. */
  eventSeq: number;
  /** The last checkpoint id and earlier rollover id that it vouches for, or 0 for none. */
  vouchedCheckpointId: number;
  vouchedRolloverId: number;
  /** False when the verification found a fault in a checkpoint or rollover, so it vouches for none. */
  vouches: boolean;
  /** Findings of the verification before the rollover, those about events included. */
  findings: number;
}

/**
 * Writes a key rollover while both checkpoint keys are available. It verifies the chain, every
 * checkpoint and every earlier rollover first. Unless that finds a fault in a checkpoint or
 * rollover, the rollover vouches for every row it read through a digest over them. It then records
 * a `key.rollover` audit event and MACs the resulting chain head, with the vouched ids and digest,
 * under both keys. Last it writes an ordinary checkpoint of the new key over the same head.
 * Faults in events do not stop it: the hash chain keeps showing them.
 * NOTE: on PostgreSQL, a checkpoint that another node inserts during the verification can commit
 * with an id below the last one read. The digest then misses it, and a later verification reports
 * `rollover-mismatch`. Stop the other nodes during the run, as docs/audit.md advises.
 */
export async function writeKeyRollover(options: RolloverOptions): Promise<RolloverResult> {
  const { repository, oldKey, newKey } = options;
  const analysis = await analyseAuditChain(repository, [
    oldKey,
    newKey,
    ...(options.otherKeys ?? []),
  ]);
  const { report } = analysis;
  const vouches =
    report.findingsOmitted === 0 &&
    !report.findings.some((finding) => CHECKPOINT_KINDS.has(finding.kind));
  const vouchedCheckpointId = vouches ? analysis.lastCheckpointId : 0;
  const vouchedRolloverId = vouches ? analysis.lastRolloverId : 0;
  const digest = vouchedDigest(
    vouchedCheckpointId,
    vouches ? analysis.checkpointDigest : emptyCheckpointDigest(),
    vouchedRolloverId,
    analysis.rollovers,
  );

  await options.audit.record({
    actor: options.actor,
    action: ROLLOVER_ACTION,
    objectType: 'audit_checkpoint_key',
    objectId: `${newKey.provider}:${newKey.keyId}`,
    outcome: 'success',
    reason: options.reason,
    clientAddress: 'cli',
    details: {
      oldKey: `${oldKey.provider}:${oldKey.keyId}`,
      newKey: `${newKey.provider}:${newKey.keyId}`,
      verifiedThroughSeq: report.verifiedThroughSeq,
      findings: report.findings.length + report.findingsOmitted,
      vouchedCheckpointId,
      vouchedRolloverId,
    },
  });

  const head = await repository.readChainHead();
  const now = (options.now ?? (() => new Date()))();
  const fields: RolloverFields = {
    eventSeq: head.seq,
    headHash: head.hash,
    createdAt: now.toISOString(),
    oldProvider: oldKey.provider,
    oldKeyId: oldKey.keyId,
    oldAlgorithm: oldKey.algorithm,
    newProvider: newKey.provider,
    newKeyId: newKey.keyId,
    newAlgorithm: newKey.algorithm,
    vouchedCheckpointId,
    vouchedRolloverId,
    vouchedDigest: digest,
  };
  const data = encodeRollover(fields);
  const rolloverId = await repository.insertRollover({
    ...fields,
    oldMac: (await oldKey.sign(data)).toString('hex'),
    newMac: (await newKey.sign(data)).toString('hex'),
  });
  await repository.insertCheckpoint(await createCheckpoint(newKey, head, now));

  return {
    rolloverId,
    eventSeq: head.seq,
    vouchedCheckpointId,
    vouchedRolloverId,
    vouches,
    findings: report.findings.length + report.findingsOmitted,
  };
}

/** Computes the digest over no checkpoint rows, which a rollover that vouches for none stores. */
function emptyCheckpointDigest(): string {
  return new CheckpointDigests([0]).through(0);
}
