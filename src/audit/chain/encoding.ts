import { createHash } from 'node:crypto';

/** The previous hash of the first event of the chain: 32 zero bytes in hex. */
export const GENESIS_HASH = '0'.repeat(64);

/** Domain-separation prefixes, so that an event hash can never be taken for a checkpoint input. */
const EVENT_PREFIX = 'strongroom.audit.event.v1\n';
const CHECKPOINT_PREFIX = 'strongroom.audit.checkpoint.v1\n';
const ROLLOVER_PREFIX = 'strongroom.audit.key-rollover.v1\n';

/** The stored columns of an audit event that its hash covers, as they are stored. */
export interface ChainedFields {
  seq: number;
  occurredAt: string;
  actor: string;
  action: string;
  objectType: string;
  objectId: string;
  outcome: string;
  reason: string;
  clientAddress: string;
  /** The details column exactly as stored: canonical JSON text. */
  detailsJson: string;
  prevHash: string;
}

/** The checkpoint fields that its MAC covers. */
export interface CheckpointFields {
  eventSeq: number;
  headHash: string;
  createdAt: string;
  provider: string;
  keyId: string;
  algorithm: string;
}

/** The key rollover fields that both of its MACs cover. */
export interface RolloverFields {
  eventSeq: number;
  headHash: string;
  createdAt: string;
  oldProvider: string;
  oldKeyId: string;
  oldAlgorithm: string;
  newProvider: string;
  newKeyId: string;
  newAlgorithm: string;
  vouchedCheckpointId: number;
  vouchedRolloverId: number;
  vouchedDigest: string;
}

/**
 * Encodes a list of strings without ambiguity: each becomes a 4-byte big-endian byte length
 * followed by its UTF-8 bytes, so no choice of field values can make two lists encode alike.
 */
export function encodeFields(prefix: string, fields: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(prefix, 'utf8')];
  for (const field of fields) {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

/** Returns the bytes that an event hash covers, in the order that docs/audit.md defines. */
export function encodeEvent(event: ChainedFields): Buffer {
  return encodeFields(EVENT_PREFIX, [
    String(event.seq),
    event.occurredAt,
    event.actor,
    event.action,
    event.objectType,
    event.objectId,
    event.outcome,
    event.reason,
    event.clientAddress,
    event.detailsJson,
    event.prevHash,
  ]);
}

/** Computes the hash of an event: lowercase hex SHA-256 over encodeEvent. */
export function hashEvent(event: ChainedFields): string {
  return createHash('sha256').update(encodeEvent(event)).digest('hex');
}

/** Returns the bytes that a checkpoint MAC covers. */
export function encodeCheckpoint(checkpoint: CheckpointFields): Buffer {
  return encodeFields(CHECKPOINT_PREFIX, [
    String(checkpoint.eventSeq),
    checkpoint.headHash,
    checkpoint.createdAt,
    checkpoint.provider,
    checkpoint.keyId,
    checkpoint.algorithm,
  ]);
}

/** Returns the bytes that the old and the new MAC of a key rollover cover. */
export function encodeRollover(rollover: RolloverFields): Buffer {
  return encodeFields(ROLLOVER_PREFIX, [
    String(rollover.eventSeq),
    rollover.headHash,
    rollover.createdAt,
    rollover.oldProvider,
    rollover.oldKeyId,
    rollover.oldAlgorithm,
    rollover.newProvider,
    rollover.newKeyId,
    rollover.newAlgorithm,
    String(rollover.vouchedCheckpointId),
    String(rollover.vouchedRolloverId),
    rollover.vouchedDigest,
  ]);
}

/**
 * Serialises event details as canonical JSON: object keys sorted by UTF-16 code units, no
 * whitespace, values as JSON.stringify writes them. The audit log stores this text, so the hash
 * covers exactly what is stored.
 */
export function canonicalJson(
  details: Readonly<Record<string, string | number | boolean>>,
): string {
  const sorted: Record<string, string | number | boolean> = {};
  for (const key of Object.keys(details).sort()) {
    sorted[key] = details[key] as string | number | boolean;
  }
  return JSON.stringify(sorted);
}
