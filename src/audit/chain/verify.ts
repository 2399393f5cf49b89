import type { CheckpointMacKey } from '../../keys/mac-key.js';
import type {
  AuditCheckpointRecord,
  AuditRepository,
  ChainedAuditEvent,
} from '../../store/repositories.js';
import { checkCheckpoints } from './checkpoint-check.js';
import { GENESIS_HASH, hashEvent } from './encoding.js';
import { FindingList } from './findings.js';
import type { ChainFindingKind, ChainReport } from './report.js';

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

type ChainRepository = Pick<
  AuditRepository,
  'listChainedEvents' | 'listCheckpoints' | 'readChainHead'
>;

/**
 * Walks the whole audit chain and every checkpoint, and reports each fault by seq. An event is
 * changed when its hash does not match its fields. Events are deleted where the seqs have a gap.
 * An event is inserted or replaced when the next event was chained to another one. The tail is
 * truncated when the chain head row or a valid checkpoint covers seqs that are gone. Checkpoints
 * add a chain rewritten under a checkpoint, and a checkpoint whose MAC or key is wrong.
 * `keys` are the checkpoint keys that can be opened; each checkpoint is checked with the key that
 * its row names.
 */
export async function verifyAuditChain(
  repository: ChainRepository,
  keys: readonly CheckpointMacKey[],
): Promise<ChainReport> {
  const findings = new FindingList();
  const checkpoints = await checkCheckpoints(repository, keys, findings);
  const byEventSeq = new Map<number, AuditCheckpointRecord[]>();
  for (const checkpoint of checkpoints.valid) {
    byEventSeq.set(checkpoint.eventSeq, [
      ...(byEventSeq.get(checkpoint.eventSeq) ?? []),
      checkpoint,
    ]);
  }

  let previous = { seq: 0, hash: GENESIS_HASH };
  let eventCount = 0;
  for (;;) {
    const page = await repository.listChainedEvents({ afterSeq: previous.seq, limit: PAGE_SIZE });
    for (const event of page) {
      checkEvent(event, previous, findings);
      for (const checkpoint of byEventSeq.get(event.seq) ?? []) {
        if (checkpoint.headHash !== event.hash) {
          findings.add({
            kind: 'rewritten',
            seq: event.seq,
            checkpointId: checkpoint.id,
            message: `the chain up to seq ${event.seq} no longer matches checkpoint ${checkpoint.id}: events up to it were changed and re-hashed`,
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
  checkTail(previous, head, checkpoints.valid, findings);

  const eventFindings = findings.list.filter((finding) => EVENT_KINDS.has(finding.kind));
  const firstBad = eventFindings.reduce(
    (lowest, finding) => Math.min(lowest, finding.seq),
    Infinity,
  );
  const checkpointedThroughSeq = checkpoints.valid
    .filter((checkpoint) => checkpoint.eventSeq <= previous.seq && checkpoint.eventSeq < firstBad)
    .reduce((highest, checkpoint) => Math.max(highest, checkpoint.eventSeq), 0);
  return {
    intact: findings.list.length === 0,
    eventCount,
    lastEventSeq: previous.seq,
    headSeq: head.seq,
    verifiedThroughSeq: Number.isFinite(firstBad)
      ? Math.min(firstBad - 1, previous.seq)
      : previous.seq,
    checkpointedThroughSeq,
    checkpointCount: checkpoints.count,
    lastCheckpoint: checkpoints.last,
    findings: findings.sorted(),
    findingsOmitted: findings.omitted,
  };
}

/** Checks one event against the event stored before it. */
function checkEvent(
  event: ChainedAuditEvent,
  previous: { seq: number; hash: string },
  findings: FindingList,
): void {
  const gap = event.seq > previous.seq + 1;
  if (gap) {
    const first = previous.seq + 1;
    const last = event.seq - 1;
    findings.add({
      kind: 'deleted',
      seq: first,
      ...(last === first ? {} : { lastSeq: last }),
      message:
        last === first
          ? `event ${first} is missing between ${previous.seq} and ${event.seq}`
          : `events ${first} to ${last} are missing between ${previous.seq} and ${event.seq}`,
    });
  }

  const computed = hashEvent(event);
  if (computed !== event.hash) {
    findings.add({
      kind: 'changed',
      seq: event.seq,
      message: `event ${event.seq} does not match its hash: a field was changed after it was written`,
    });
    return;
  }
  if (gap || event.prevHash === previous.hash) {
    return;
  }
  if (previous.seq === 0) {
    findings.add({
      kind: 'changed',
      seq: event.seq,
      message: `event ${event.seq} is the first event but is not chained to the start of the chain`,
    });
    return;
  }
  findings.add({
    kind: 'inserted',
    seq: previous.seq,
    message: `event ${previous.seq} is not the event that ${event.seq} was chained to: it was inserted or replaced`,
  });
}

/** Compares the last stored event with the chain head row and the checkpoints. */
function checkTail(
  last: { seq: number; hash: string },
  head: { seq: number; hash: string },
  checkpoints: readonly AuditCheckpointRecord[],
  findings: FindingList,
): void {
  if (head.seq < last.seq) {
    findings.add({
      kind: 'inserted',
      seq: head.seq + 1,
      ...(last.seq === head.seq + 1 ? {} : { lastSeq: last.seq }),
      message: `events after ${head.seq} are not in the chain head that the service recorded, so they were added outside the service`,
    });
  } else if (head.seq === last.seq && head.hash !== last.hash && last.seq > 0) {
    findings.add({
      kind: 'changed',
      seq: last.seq,
      message: `event ${last.seq} does not have the hash that the chain head row records`,
    });
  }

  const beyond = checkpoints.filter((checkpoint) => checkpoint.eventSeq > last.seq);
  const coveredEnd = beyond.reduce(
    (highest, checkpoint) => Math.max(highest, checkpoint.eventSeq),
    head.seq,
  );
  if (coveredEnd > last.seq) {
    const sources = [
      ...(head.seq > last.seq ? [`the chain head row records seq ${head.seq}`] : []),
      ...beyond.map(
        (checkpoint) => `checkpoint ${checkpoint.id} covers seq ${checkpoint.eventSeq}`,
      ),
    ];
    findings.add({
      kind: 'truncated',
      seq: last.seq + 1,
      ...(coveredEnd === last.seq + 1 ? {} : { lastSeq: coveredEnd }),
      message: `the chain ends at seq ${last.seq}, but ${sources.join(' and ')}: the events after ${last.seq} were deleted`,
    });
  }
}
