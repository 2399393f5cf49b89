/** Messages between the HSM provider and a batch process, sent as frames (frames.ts). */
import type { ItemError } from '../batch-thread-protocol.js';
import type { ChunkItems } from '../chunk-items.js';
import type { LogFields, LogLevel } from '../hsm-log.js';
import type { KeyWrapMode } from '../mechanisms.js';
import type { PackedBytes } from '../protocol.js';
import type { SlotSelector } from '../slot-selection.js';

/**
 * The first message to a process, with the settings that open the master key. `kcv` is the check
 * value that the provider opened, and a process that finds another key under the label fails to start.
 */
export interface OpenMessage {
  type: 'open';
  library: string;
  slot: SlotSelector;
  keyLabel: string;
  pin: string;
  keyWrap: KeyWrapMode;
  kcv: string;
}

export interface ChunkMessage {
  type: 'chunk';
  id: number;
  items: ChunkItems;
}

export type ToProcess = OpenMessage | ChunkMessage;

/** The process has its own session, logged in, with the same master key as the provider. */
export interface ReadyMessage {
  type: 'ready';
}

/** The process could not reach the master key, and exits after this message. */
export interface OpenFailedMessage {
  type: 'openFailed';
  error: ItemError;
}

export interface ReplyMessage {
  type: 'reply';
  id: number;
  values: PackedBytes;
  errors: Array<ItemError | null>;
  stop: ItemError | null;
}

export interface ProcessLogMessage {
  type: 'log';
  level: LogLevel;
  message: string;
  fields: LogFields;
}

export type FromProcess = ReadyMessage | OpenFailedMessage | ReplyMessage | ProcessLogMessage;
