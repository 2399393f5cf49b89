import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrongroomError } from '../../errors.js';

const WORKER_FILE = 'pkcs11-worker.js';
const BATCH_THREAD_FILE = 'pkcs11-batch-thread.js';
const BATCH_PROCESS_FILE = join('batch-process', 'process-entry.js');

/**
 * Returns the path of the compiled PKCS#11 worker. Node 20 cannot start a worker from a .ts file,
 * so the worker always runs from the JavaScript that `tsc -p tsconfig.build.json` writes to dist/.
 * From dist/keys/hsm/*.js the worker is the sibling file. From src/keys/hsm/*.ts (vitest, tsx) it
 * is the same path with the last `src` folder replaced by `dist`.
 */
export function resolveWorkerPath(moduleUrl: string = import.meta.url): string {
  return resolveThreadFile(WORKER_FILE, moduleUrl);
}

/** Returns the path of the compiled PKCS#11 batch thread, found as resolveWorkerPath finds the worker. */
export function resolveBatchThreadPath(moduleUrl: string = import.meta.url): string {
  return resolveThreadFile(BATCH_THREAD_FILE, moduleUrl);
}

/** Returns the path of the compiled batch process entry, or throws like requireWorkerFile. */
export function requireBatchProcessFile(moduleUrl: string = import.meta.url): string {
  return requireCompiled(resolveThreadFile(BATCH_PROCESS_FILE, moduleUrl));
}

function resolveThreadFile(file: string, moduleUrl: string): string {
  const modulePath = fileURLToPath(moduleUrl);
  const directory = dirname(modulePath);
  if (modulePath.endsWith('.js')) {
    return join(directory, file);
  }

  const parts = directory.split(sep);
  const srcIndex = parts.lastIndexOf('src');
  if (srcIndex < 0) {
    throw new Error(
      `cannot locate the PKCS#11 worker: ${modulePath} is neither compiled JavaScript nor under a src folder`,
    );
  }
  parts[srcIndex] = 'dist';
  return join(parts.join(sep), file);
}

/** Returns the worker path, or throws an error that names the build command when the file is missing. */
export function requireWorkerFile(moduleUrl: string = import.meta.url): string {
  return requireCompiled(resolveWorkerPath(moduleUrl));
}

function requireCompiled(path: string): string {
  if (!existsSync(path)) {
    throw new StrongroomError(
      'SR_HSM_UNAVAILABLE',
      `the PKCS#11 worker ${path} does not exist. Build it with npx tsc -p tsconfig.build.json (npm run build).`,
      { details: { workerPath: path } },
    );
  }
  return path;
}
