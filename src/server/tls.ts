import { readFile } from 'node:fs/promises';

import { StrongroomError } from '../errors.js';
import type { TlsMaterial } from './server.js';

/** Reads the PEM certificate chain and private key named by server.tls.certFile and server.tls.keyFile. */
export async function readTlsFiles(paths: {
  certFile: string;
  keyFile: string;
}): Promise<TlsMaterial> {
  const cert = await readPem(paths.certFile, 'server.tls.certFile');
  const key = await readPem(paths.keyFile, 'server.tls.keyFile');
  return { cert, key };
}

async function readPem(path: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new StrongroomError(
      code === 'ENOENT' ? 'SR_CONFIG_FILE_MISSING' : 'SR_CONFIG_VALUE_INVALID',
      `The file ${path} named by ${setting} cannot be read (${code ?? 'unknown error'}). Check the path and that the service user may read it.`,
      { cause: error, details: { path, setting } },
    );
  }
}
