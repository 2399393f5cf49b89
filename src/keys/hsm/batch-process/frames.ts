/**
 * Length-prefixed frames between the HSM provider and its batch processes, over the socket pair
 * that Node.js makes for a 'pipe' entry of a child's stdio. Each frame is a 4-byte big-endian
 * length and a message in the V8 serialization format, so Uint8Arrays cross without text
 * encoding. Frames can carry DEKs, so the bytes that this side owns are zeroed once used.
 */
import type { Socket } from 'node:net';
import { deserialize, serialize } from 'node:v8';

const LENGTH_BYTES = 4;

/** Writes one message as a frame. The serialized copy is zeroed once the socket has written it. */
export function writeFrame(socket: Socket, message: unknown): void {
  const body = serialize(message);
  const header = Buffer.alloc(LENGTH_BYTES);
  header.writeUInt32BE(body.length);
  socket.write(header);
  socket.write(body, () => body.fill(0));
}

/**
 * Collects the bytes that a socket receives and hands each complete message to `onMessage`. The
 * received chunks are zeroed once copied. Each message gets a copy of its frame, and its
 * Uint8Arrays are views into that copy, so the receiver zeroes the ones that hold DEKs after use.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onMessage: (message: unknown) => void) {}

  push(chunk: Buffer): void {
    const joined = Buffer.concat([this.pending, chunk]);
    this.pending.fill(0);
    chunk.fill(0);
    let offset = 0;
    while (joined.length - offset >= LENGTH_BYTES) {
      const length = joined.readUInt32BE(offset);
      if (joined.length - offset - LENGTH_BYTES < length) {
        break;
      }
      // deserialize() returns views into the bytes it reads, so it reads a copy of the frame.
      const body = Buffer.from(
        joined.subarray(offset + LENGTH_BYTES, offset + LENGTH_BYTES + length),
      );
      const message: unknown = deserialize(body);
      offset += LENGTH_BYTES + length;
      this.onMessage(message);
    }
    this.pending = Buffer.from(joined.subarray(offset));
    joined.fill(0);
  }

  /** Zeroes the bytes of an incomplete frame, when the socket closes. */
  clear(): void {
    this.pending.fill(0);
    this.pending = Buffer.alloc(0);
  }
}
