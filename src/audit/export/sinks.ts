import { once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import net from 'node:net';

import { StrongroomError } from '../../errors.js';

/** The destination of exported events: a new file or a unix stream socket. */
export interface ExportSink {
  /** Whether messages on this sink need RFC 6587 octet counting (a stream socket). */
  readonly stream: boolean;
  write(chunk: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Creates a new file with mode 0600 for the export; an existing file is never overwritten. */
export async function openFileSink(path: string): Promise<ExportSink> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw new StrongroomError(
      'SR_AUDIT_EXPORT_FAILED',
      code === 'EEXIST'
        ? `the export file ${path} exists already. Choose another --output; an export never overwrites a file.`
        : `the export file ${path} cannot be created (${code}). Check that its folder exists and is writable.`,
      { cause: error, details: { path, reason: code } },
    );
  }
  return {
    stream: false,
    write: async (chunk) => {
      await handle.write(chunk);
    },
    close: () => handle.close(),
  };
}

/** Connects to a local unix stream socket, such as one that rsyslog or syslog-ng listens on. */
export async function openSocketSink(path: string): Promise<ExportSink> {
  const socket = net.createConnection({ path });
  try {
    await once(socket, 'connect');
  } catch (error) {
    socket.destroy();
    throw socketFailure(path, error);
  }

  let failure: unknown;
  socket.on('error', (error) => {
    failure = error;
  });
  return {
    stream: true,
    write: async (chunk) => {
      if (failure !== undefined) {
        throw socketFailure(path, failure);
      }
      if (!socket.write(chunk)) {
        await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
      }
    },
    close: async () => {
      socket.end();
      if (!socket.closed) {
        await once(socket, 'close');
      }
      if (failure !== undefined) {
        throw socketFailure(path, failure);
      }
    },
  };
}

function socketFailure(path: string, error: unknown): StrongroomError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new StrongroomError(
    'SR_AUDIT_EXPORT_FAILED',
    `the socket ${path} failed (${code}). Check that the syslog daemon listens on this unix stream socket.`,
    { cause: error, details: { path, reason: code } },
  );
}
