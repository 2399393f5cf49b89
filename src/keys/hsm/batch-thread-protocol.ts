import pkcs11js from 'pkcs11js';
import { errorRegistry, isStrongroomError, StrongroomError } from '../../errors.js';
import type { WrapMechanism } from '../types.js';
import type { KeyWrapMode } from './mechanisms.js';
import { ConnectionAbandonedError } from './pkcs11-failures.js';
import type { LogMessage, PackedBytes } from './protocol.js';

/**
 * Messages between the PKCS#11 worker and its batch threads. A chunk is a run of batch items for
 * one session that the worker has borrowed from its pool and lends to the thread until the reply.
 */
interface ChunkBase {
  id: number;
  /** The lent session's handle, as pkcs11js returns it. */
  session: Uint8Array;
  masterKey: Uint8Array;
  mechanism: WrapMechanism;
  offered: number[];
  slotName: string;
  keyWrap: KeyWrapMode;
  /**
   * The connection's abandon flag over a SharedArrayBuffer. The worker sets element 0 to 1 when it
   * drops the connection, and the thread then stops before its next item.
   */
  abandoned: Int32Array;
  aads: PackedBytes;
}

/**
 * Wraps DEKs, which `deks` contains as 32-byte values one after another. With `reopen`, each new
 * wrapping is opened again before it counts (WrapManyOptions.reopen).
 */
export interface WrapChunk extends ChunkBase {
  kind: 'wrap';
  deks: Uint8Array;
  reopen: boolean;
}

export interface UnwrapChunk extends ChunkBase {
  kind: 'unwrap';
  mechanisms: WrapMechanism[];
  wrapped: PackedBytes;
}

export type ChunkRequest = WrapChunk | UnwrapChunk;

/** A chunk before BatchThreads.run gives it its id. */
export type ChunkFields = Omit<WrapChunk, 'id'> | Omit<UnwrapChunk, 'id'>;

/**
 * The reply to a chunk. The first `done` items ran, each with its value (wrapped bytes or a DEK)
 * or its error. When `done` is below the chunk's length, `stop` is the error that ended the chunk early.
 */
export interface ChunkReply {
  kind: 'reply';
  id: number;
  done: number;
  values: PackedBytes;
  errors: Array<ItemError | null>;
  stop: ItemError | null;
}

export type BatchThreadMessage = ChunkReply | LogMessage;

/**
 * An error that crossed from a batch thread: a pkcs11js error with its CKR value and function, a
 * StrongroomError, the signal that the connection was abandoned, or any other error.
 */
export type ItemError =
  | { kind: 'pkcs11'; ckrName: string; ckr: number; method: string }
  | {
      kind: 'strongroom';
      code: string;
      message: string;
      details: Record<string, string | number | boolean>;
    }
  | { kind: 'abandoned' }
  | { kind: 'other'; name: string; message: string };

/** Turns an error thrown in a batch thread into its form for postMessage. */
export function serializeItemError(error: unknown): ItemError {
  if (error instanceof pkcs11js.Pkcs11Error) {
    return { kind: 'pkcs11', ckrName: error.message, ckr: error.code, method: error.method };
  }
  if (isStrongroomError(error)) {
    return { kind: 'strongroom', code: error.code, message: error.message, details: error.details };
  }
  if (error instanceof ConnectionAbandonedError) {
    return { kind: 'abandoned' };
  }
  if (error instanceof Error) {
    return { kind: 'other', name: error.name, message: error.message };
  }
  return { kind: 'other', name: 'Error', message: String(error) };
}

/**
 * Rebuilds an error from a batch thread, so that ckrOf, isConnectionLost and the failure mapping
 * of dek-operations.ts treat it like the error of a call on the worker's own thread.
 */
export function rebuildItemError(error: ItemError): Error {
  switch (error.kind) {
    case 'pkcs11':
      // pkcs11js parses "NAME:VALUE" into the message and the code, as for its own errors.
      return new pkcs11js.Pkcs11Error(`${error.ckrName}:${error.ckr}`, error.ckr, error.method);
    case 'strongroom': {
      const code =
        error.code in errorRegistry ? (error.code as keyof typeof errorRegistry) : 'SR_INTERNAL';
      return new StrongroomError(code, error.message, { details: error.details });
    }
    case 'abandoned':
      return new ConnectionAbandonedError(
        'the connection to the token was dropped during the batch',
      );
    case 'other': {
      const rebuilt = new Error(error.message);
      rebuilt.name = error.name;
      return rebuilt;
    }
  }
}
