import { asBuffer, transferableCopy, type WorkerCalls } from './protocol.js';
import type { TokenConnection } from './token-connection.js';
import { findMacKey, signWithMacKey, verifyWithMacKey } from './mac-key.js';

/** Worker side of `sign`: finds the audit key on the open token and MACs the data in a pooled session. */
export function signWithTokenKey(
  connection: TokenConnection,
  params: WorkerCalls['sign']['params'],
  transfer: ArrayBuffer[],
): Promise<WorkerCalls['sign']['result']> {
  return connection.run('sign', async (pkcs11, session) => {
    const key = findMacKey(pkcs11, session, params.keyLabel);
    const mac = signWithMacKey(pkcs11, session, key, asBuffer(params.data));
    return { algorithm: key.algorithm, mac: transferableCopy(mac, transfer) };
  });
}

/** Worker side of `verify`. */
export function verifyWithTokenKey(
  connection: TokenConnection,
  params: WorkerCalls['verify']['params'],
): Promise<WorkerCalls['verify']['result']> {
  return connection.run('verify', async (pkcs11, session) => {
    const key = findMacKey(pkcs11, session, params.keyLabel);
    const valid = verifyWithMacKey(
      pkcs11,
      session,
      key,
      asBuffer(params.data),
      asBuffer(params.mac),
    );
    return { algorithm: key.algorithm, valid };
  });
}
