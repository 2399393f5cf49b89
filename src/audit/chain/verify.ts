import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type {
  AuditCheckpointRecord,
  AuditKeyRolloverRecord,
  AuditRepository,
} from '../../store/repositories.js';
import { checkCheckpoints, reportUnavailableKey } from './checkpoint-check.js';
import { GENESIS_HASH } from './encoding.js';
import { checkEvent, checkTail, type Anchor } from './event-checks.js';
import { FindingList } from './findings.js';
import { describeCheckpoint, type ChainFindingKind, type ChainReport } from './report.js';
import { summariseRetiredKeys } from './retired-keys.js';
import {
  checkRollovers,
  describeRollover,
  findVoucher,
  type RolloverVerdict,
} from './rollover-check.js';

/** Events read per query. */
const PAGE_SIZE = 1000;

/** Findings about events; the others concern checkpoints only. */
const EVENT_KINDS: ReadonlySet<ChainFindingKind> = new Set([
  'changed',
  'deleted',
  'inserted',
  'truncated',
  'rewritten',
]);

export type ChainRepository = Pick<
  AuditRepository,
  'listChainedEvents' | 'listCheckpoints' | 'readChainHead' | 'listRollovers'
>;

/** A verification report and the rows it read, which a key rollover vouches for. */
export interface ChainAnalysis {
  report: ChainReport;
  /** The last checkpoint id and rollover id read, or 0 when there were none. */
  lastCheckpointId: number;
  lastRolloverId: number;
  /** The digest over the checkpoint rows up to lastCheckpointId. */
  checkpointDigest: string;
  /** The rollover rows read, oldest first. */
  rollovers: AuditKeyRolloverRecord[];
}

/**
 * Walks the whole audit chain and every checkpoint, and reports each fault by seq. An event is
 * changed when its hash does not match its fields. Events are deleted where the seqs have a gap.
 * An event is inserted or replaced when the next event was chained to another one. The tail is
 * truncated when the chain head row or a valid checkpoint covers seqs that are gone. Checkpoints
 * add a chain rewritten under a checkpoint, and a checkpoint whose MAC or key is wrong.
 * `keys` are the checkpoint keys that can be opened; each checkpoint is checked with the key that
 * its row names. A checkpoint whose key is not available is no finding when a key rollover
 * vouches for it (see checkRollovers).
 */
export async function verifyAuditChain(
  repository: ChainRepository,
  keys: readonly CheckpointMacKey[],
): Promise<ChainReport> {
  return (await analyseAuditChain(repository, keys)).report;
}

/** Verifies the chain as verifyAuditChain does and also returns what a key rollover needs. */
export async function analyseAuditChain(
  repository: ChainRepository,
  keys: readonly CheckpointMacKey[],
): Promise<ChainAnalysis> {
  const findings = new FindingList();
  const rollovers = await repository.listRollovers();
  const checkpoints = await checkCheckpoints(
    repository,
    keys,
    findings,
    rollovers.map((rollover) => rollover.vouchedCheckpointId),
  );
  const verdicts = await checkRollovers(rollovers, keys, checkpoints.digests, findings);
  const vouched = new Map<AuditCheckpointRecord, RolloverVerdict>();
  for (const checkpoint of checkpoints.unchecked) {
    const voucher = findVoucher(
      verdicts,
      (rollover) => rollover.vouchedCheckpointId >= checkpoint.id,
    );
    if (voucher === undefined) {
      reportUnavailableKey(checkpoint, findings);
    } else {
      vouched.set(checkpoint, voucher);
    }
  }

  const anchors = collectAnchors(checkpoints.valid, vouched, verdicts);
  const byEventSeq = new Map<number, Anchor[]>();
  for (const anchor of anchors) {
    byEventSeq.set(anchor.eventSeq, [...(byEventSeq.get(anchor.eventSeq) ?? []), anchor]);
  }

  let previous = { seq: 0, hash: GENESIS_HASH };
  let eventCount = 0;
  for (;;) {
    const page = await repository.listChainedEvents({ afterSeq: previous.seq, limit: PAGE_SIZE });
    for (const event of page) {
      checkEvent(event, previous, findings);
      for (const anchor of byEventSeq.get(event.seq) ?? []) {
        if (anchor.headHash !== event.hash) {
          findings.add({
            kind: 'rewritten',
            seq: event.seq,
            ...(anchor.checkpointId === undefined ? {} : { checkpointId: anchor.checkpointId }),
            ...(anchor.rolloverId === undefined ? {} : { rolloverId: anchor.rolloverId }),
            message: `the chain up to seq ${event.seq} no longer matches ${anchor.name}: events up to it were changed and re-hashed`,
          });
        }
      }
      previous = { seq: event.seq, hash: event.hash };
      eventCount += 1;
    }
    if (page.length < PAGE_SIZE) {
      break;
    }
  }

  const head = await repository.readChainHead();
  checkTail(previous, head, anchors, findings);

  const eventFindings = findings.list.filter((finding) => EVENT_KINDS.has(finding.kind));
  const firstBad = eventFindings.reduce(
    (lowest, finding) => Math.min(lowest, finding.seq),
    Infinity,
  );
  const checkpointedThroughSeq = anchors
    .filter((anchor) => anchor.eventSeq <= previous.seq && anchor.eventSeq < firstBad)
    .reduce((highest, anchor) => Math.max(highest, anchor.eventSeq), 0);
  const last = checkpoints.last;
  const lastVoucher = last === undefined ? undefined : vouched.get(last.checkpoint);
  const report: ChainReport = {
    intact: findings.list.length === 0,
    eventCount,
    lastEventSeq: previous.seq,
    headSeq: head.seq,
    verifiedThroughSeq: Number.isFinite(firstBad)
      ? Math.min(firstBad - 1, previous.seq)
      : previous.seq,
    checkpointedThroughSeq,
    checkpointCount: checkpoints.count,
    lastCheckpoint:
      last === undefined
        ? null
        : {
            ...describeCheckpoint(last.checkpoint, last.macValid),
            ...(lastVoucher === undefined ? {} : { vouchedByRolloverId: lastVoucher.rollover.id }),
          },
    findings: findings.sorted(),
    findingsOmitted: findings.omitted,
    rollovers: verdicts.map(describeRollover),
    retiredKeys: summariseRetiredKeys(vouched),
  };
  const lastCheckpointId = checkpoints.digests.lastId;
  return {
    report,
    lastCheckpointId,
    lastRolloverId: rollovers.at(-1)?.id ?? 0,
    checkpointDigest: checkpoints.digests.through(lastCheckpointId),
    rollovers,
  };
}

function collectAnchors(
  valid: readonly AuditCheckpointRecord[],
  vouched: ReadonlyMap<AuditCheckpointRecord, RolloverVerdict>,
  verdicts: readonly RolloverVerdict[],
): Anchor[] {
  const fromCheckpoint = (checkpoint: AuditCheckpointRecord): Anchor => ({
    eventSeq: checkpoint.eventSeq,
    headHash: checkpoint.headHash,
    checkpointId: checkpoint.id,
    name: `checkpoint ${checkpoint.id}`,
  });
  return [
    ...valid.map(fromCheckpoint),
    ...[...vouched.keys()].map(fromCheckpoint),
    ...verdicts
      .filter((verdict) => verdict.status === 'verified' || verdict.status === 'vouched')
      .map(({ rollover }) => ({
        eventSeq: rollover.eventSeq,
        headHash: rollover.headHash,
        rolloverId: rollover.id,
        name: `key rollover ${rollover.id}`,
      })),
  ];
}
