import type { ChainedAuditEvent } from '../../store/repositories.js';
import type { FindingList } from './findings.js';
import { hashEvent } from './encoding.js';

/**
 * A chain head that a valid MAC vouches for: a checkpoint, a checkpoint that a key rollover
 * vouches for, or a key rollover itself.
 */
export interface Anchor {
  eventSeq: number;
  headHash: string;
  checkpointId?: number;
  rolloverId?: number;
  name: string;
}

/** Checks one event against the event stored before it. */
export function checkEvent(
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

/** Compares the last stored event with the chain head row, the checkpoints and the rollovers. */
export function checkTail(
  last: { seq: number; hash: string },
  head: { seq: number; hash: string },
  anchors: readonly Anchor[],
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

  const beyond = anchors.filter((anchor) => anchor.eventSeq > last.seq);
  const coveredEnd = beyond.reduce(
    (highest, anchor) => Math.max(highest, anchor.eventSeq),
    head.seq,
  );
  if (coveredEnd > last.seq) {
    const sources = [
      ...(head.seq > last.seq ? [`the chain head row records seq ${head.seq}`] : []),
      ...beyond.map((anchor) => `${anchor.name} covers seq ${anchor.eventSeq}`),
    ];
    findings.add({
      kind: 'truncated',
      seq: last.seq + 1,
      ...(coveredEnd === last.seq + 1 ? {} : { lastSeq: coveredEnd }),
      message: `the chain ends at seq ${last.seq}, but ${sources.join(' and ')}: the events after ${last.seq} were deleted`,
    });
  }
}
