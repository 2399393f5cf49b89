import type { ErrorCode } from '../../errors.js';
import type { MacAlgorithm } from '../mac-key.js';
import type { WrapMechanism } from '../types.js';
import type { LogFields, LogLevel } from './hsm-log.js';
import type { KcvSource } from './key-check-value.js';
import type { KeyWrapMode } from './mechanisms.js';
import type { SlotSelector } from './slot-selection.js';
import type { GeneratedMacKey, MacKeyInspection } from './mac-key-tools.js';
import type { GeneratedKey, TokenAccess, TokenInspection } from './token-inspection.js';

/**
 * Messages between the main thread and the PKCS#11 worker thread. Each request carries an id that
 * its response repeats. Binary values arrive as Uint8Array, because structured cloning drops the
 * Buffer prototype.
 */
export interface WorkerCalls {
  open: {
    /** `finalizeOnFailure`: no other provider in the process uses the module, so a failed open finalises it. */
    params: {
      library: string;
      slot: SlotSelector;
      keyLabel: string;
      pin: string;
      poolSize: number;
      keyWrap: KeyWrapMode;
      finalizeOnFailure: boolean;
      finalizeOnReconnect?: boolean;
    };
    result: OpenedToken;
  };
  wrap: {
    params: { dek: Uint8Array; aad: Uint8Array };
    result: { mechanism: WrapMechanism; wrapped: Uint8Array };
  };
  unwrap: {
    params: { mechanism: WrapMechanism; wrapped: Uint8Array; aad: Uint8Array };
    result: { dek: Uint8Array };
  };
  /**
   * Several wraps in one message. `deks` contains the 32-byte DEKs one after another. A result
   * carries the wrapped bytes of each DEK, or the error of that DEK alone. `reopen` is
   * WrapManyOptions.reopen.
   */
  wrapMany: {
    params: { deks: Uint8Array; aads: PackedBytes; reopen: boolean };
    result: { mechanism: WrapMechanism; wrapped: PackedBytes; errors: BatchErrors };
  };
  /** Several unwraps in one message. A failed item gets an empty DEK and its error. */
  unwrapMany: {
    params: { mechanisms: WrapMechanism[]; wrapped: PackedBytes; aads: PackedBytes };
    result: { deks: PackedBytes; errors: BatchErrors };
  };
  /** `hsm verify`: logs in, lists the token's objects and checks the master key. */
  inspect: {
    params: TokenAccess & { keyLabel: string };
    result: TokenInspection;
  };
  /** `hsm keygen`: generates the AES-256 master key and checks it. */
  keygen: {
    params: TokenAccess & { keyLabel: string };
    result: GeneratedKey;
  };
  /** Computes a MAC over `data` with the audit checkpoint key labelled `keyLabel`, on the open token. */
  sign: {
    params: { keyLabel: string; data: Uint8Array };
    result: { algorithm: MacAlgorithm; mac: Uint8Array };
  };
  /** Checks a MAC that `sign` made; a MAC that does not match gives `valid: false`. */
  verify: {
    params: { keyLabel: string; data: Uint8Array; mac: Uint8Array };
    result: { algorithm: MacAlgorithm; valid: boolean };
  };
  /** `hsm keygen --audit`: generates the audit checkpoint key and checks it. */
  macKeygen: {
    params: TokenAccess & { keyLabel: string };
    result: GeneratedMacKey;
  };
  /** `hsm verify` and the doctor: checks the audit checkpoint key. */
  macInspect: {
    params: TokenAccess & { keyLabel: string };
    result: MacKeyInspection;
  };
  close: {
    /** Whether this is the last provider in the process on this token (log out) and on this module (finalise). */
    params: { logout: boolean; finalize: boolean };
    result: Record<string, never>;
  };
}

export type CallName = keyof WorkerCalls;

/**
 * Byte strings packed one after another into one ArrayBuffer of their own, so that a batch crosses
 * the thread boundary as one transfer instead of one per item.
 */
export interface PackedBytes {
  bytes: Uint8Array;
  lengths: number[];
}

/** The error of each item of a batch, or null where the item succeeded. */
export type BatchErrors = Array<SerializedError | null>;

/** Token and key details that the worker returns once it has logged in and checked the master key. */
export interface OpenedToken {
  slotId: number;
  slotIndex: number;
  slotDescription: string;
  tokenLabel: string;
  mechanism: WrapMechanism;
  keyWrap: KeyWrapMode;
  kcv: string;
  kcvSource: KcvSource;
}

export interface RequestMessage<K extends CallName = CallName> {
  id: number;
  call: K;
  params: WorkerCalls[K]['params'];
}

/** A StrongroomError as it crosses the thread boundary. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  details: Record<string, string | number | boolean>;
}

export type ResponseMessage =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: SerializedError };

/** A log line written in the worker, for the main thread's pino logger. */
export interface LogMessage {
  kind: 'log';
  level: LogLevel;
  message: string;
  fields: LogFields;
}

/** Sent when the worker loses the connection to the token or has rebuilt it. */
export interface ConnectionMessage {
  kind: 'connection';
  connected: boolean;
}

export type WorkerMessage = ResponseMessage | LogMessage | ConnectionMessage;

/**
 * Copies bytes into an ArrayBuffer of their own, to be transferred with postMessage. Cloning a
 * Buffer would copy its whole backing ArrayBuffer, which for small Buffers is Node's shared 8 KiB
 * pool, so other data in that pool (a concurrent DEK, for example) would cross with it.
 */
export function transferableCopy(bytes: Uint8Array, transfer: ArrayBuffer[]): Uint8Array {
  const copy = new Uint8Array(bytes);
  transfer.push(copy.buffer);
  return copy;
}

/** Views a received Uint8Array as a Buffer without copying it. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Packs byte strings into one transferable ArrayBuffer. See transferableCopy for why it copies. */
export function packBytes(items: readonly Uint8Array[], transfer: ArrayBuffer[]): PackedBytes {
  const lengths = items.map((item) => item.length);
  const bytes = new Uint8Array(lengths.reduce((sum, length) => sum + length, 0));
  let offset = 0;
  for (const item of items) {
    bytes.set(item, offset);
    offset += item.length;
  }
  transfer.push(bytes.buffer);
  return { bytes, lengths };
}

/** Views each packed byte string as a Buffer, without copying. */
export function unpackBytes(packed: PackedBytes): Buffer[] {
  const views: Buffer[] = [];
  let offset = 0;
  for (const length of packed.lengths) {
    views.push(asBuffer(packed.bytes.subarray(offset, offset + length)));
    offset += length;
  }
  return views;
}
