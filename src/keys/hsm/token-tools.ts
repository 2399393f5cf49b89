import type { Logger } from 'pino';
import type { WorkerCalls } from './protocol.js';
import { WorkerClient } from './worker-client.js';
import { requireWorkerFile } from './worker-path.js';

/**
 * Runs one `hsm verify` or `hsm keygen` request, for the master key or the audit checkpoint key,
 * in a PKCS#11 worker thread of its own, then stops the worker. The worker logs in, does the work,
 * logs out and finalises the module.
 */
export async function runTokenTool<K extends 'inspect' | 'keygen' | 'macInspect' | 'macKeygen'>(
  call: K,
  params: WorkerCalls[K]['params'],
  logger: Logger,
): Promise<WorkerCalls[K]['result']> {
  const client = new WorkerClient(requireWorkerFile(), logger.child({ component: 'hsm' }));
  try {
    return await client.call(call, params);
  } finally {
    await client.terminate();
  }
}
