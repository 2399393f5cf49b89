import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import {
  AUDIT_KEYGEN_COMMAND,
  findMacKey,
  signWithMacKey,
  verifyWithMacKey,
  type MacKeyHandle,
} from './mac-key.js';
import { asBuffer, transferableCopy, type WorkerCalls } from './protocol.js';
import type { TokenConnection } from './token-connection.js';
import type { EstablishedConnection } from './token-setup.js';

/** Worker side of `sign`: finds the audit key on the open token and MACs the data in a pooled session. */
export function signWithTokenKey(
  connection: TokenConnection,
  params: WorkerCalls['sign']['params'],
  transfer: ArrayBuffer[],
): Promise<WorkerCalls['sign']['result']> {
  return connection.run('sign', async (pkcs11, session, established) => {
    const key = findOfferedMacKey(pkcs11, session, established, params.keyLabel);
    const mac = signWithMacKey(pkcs11, session, key, asBuffer(params.data));
    return { algorithm: key.algorithm, mac: transferableCopy(mac, transfer) };
  });
}

/** Worker side of `verify`. */
export function verifyWithTokenKey(
  connection: TokenConnection,
  params: WorkerCalls['verify']['params'],
): Promise<WorkerCalls['verify']['result']> {
  return connection.run('verify', async (pkcs11, session, established) => {
    const key = findOfferedMacKey(pkcs11, session, established, params.keyLabel);
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

/**
 * Finds the audit key and checks that the token path offers its MAC mechanism. p11-kit 0.24.1's RPC
 * (Debian 12), for one, passes on CKM_SHA256_HMAC but not CKM_AES_CMAC.
 */
function findOfferedMacKey(
  pkcs11: PKCS11,
  session: Buffer,
  established: EstablishedConnection,
  keyLabel: string,
): MacKeyHandle {
  const key = findMacKey(pkcs11, session, keyLabel);
  if (established.offered.includes(key.mechanism)) {
    return key;
  }
  const mechanism = key.algorithm === 'aes-cmac' ? 'CKM_AES_CMAC' : 'CKM_SHA256_HMAC';
  throw new StrongroomError(
    'SR_AUDIT_KEY_INVALID',
    `the audit checkpoint key '${keyLabel}' needs ${mechanism}, which ${established.slotName} does not offer. Create an HMAC key with '${AUDIT_KEYGEN_COMMAND} --label <new label>' and set strongroom.audit.keyLabel to it.`,
    { details: { keyLabel, mechanism } },
  );
}
