import type { MasterKeyProvider } from '../types.js';
import { HsmProvider } from './provider.js';
import type { HsmProviderOptions } from './provider-options.js';

export type { HsmProviderOptions } from './provider-options.js';
export type { SlotSelector } from './slot-selection.js';
export { FailoverHsmProvider, type FailoverProviderOptions } from './failover/failover-provider.js';

/**
 * Creates the HSM master key provider. Nothing touches the HSM until open(), which starts the
 * PKCS#11 worker thread, logs in and checks the key. The worker runs from dist/, so build with
 * `npx tsc -p tsconfig.build.json` before using the provider from TypeScript sources.
 */
export function createHsmProvider(options: HsmProviderOptions): MasterKeyProvider {
  return new HsmProvider(options);
}

// Lower-level pieces, for the benchmark, `strongroom hsm verify` and the known-answer tests. They
// call PKCS#11 on the thread they run on. Only the provider moves the calls to a worker.
export { loadModule, initializeModule, finalizeModule } from './pkcs11-module.js';
export {
  listSlots,
  selectSlot,
  describeSlot,
  describeTokens,
  slotIdOf,
  type SlotEntry,
} from './slot-selection.js';
export { loginUser } from './login.js';
export { findMasterKey, readMasterKeyAttributes, type MasterKeyAttributes } from './master-key.js';
export { checkMasterKey } from './master-key-check.js';
export { chooseMechanism, mechanismCodes, mechanismNames } from './mechanisms.js';
export {
  gcmEncrypt,
  gcmDecrypt,
  gcmMechanism,
  newGcmIv,
  GCM_IV_BYTES,
  GCM_TAG_BYTES,
} from './gcm.js';
export { bindingTag, BINDING_BYTES } from './key-wrap.js';
export {
  readKeyCheckValue,
  computeEcbCheckValue,
  deriveCheckValueByKeyWrap,
  type KeyCheckValue,
} from './key-check-value.js';
export { ckrName, ckrOf, describeFailure } from './pkcs11-failures.js';
export { hsmLogFromPino, type HsmLog } from './hsm-log.js';
export { resolveWorkerPath } from './worker-path.js';
export { runTokenTool } from './token-tools.js';
export type { TokenObject } from './token-objects.js';
export type { GeneratedKey, TokenInspection } from './token-inspection.js';
export type { GeneratedMacKey, MacKeyInspection } from './mac-key-tools.js';
export {
  findSoftHsmLibrary,
  writeSoftHsmConfig,
  initSoftHsmToken,
  generateAesKey,
  generateSoftHsmAuditKey,
  listSoftHsmObjects,
  softHsmVersion,
  SOFTHSM_LIBRARY_PATHS,
  type SoftHsmConfig,
  type SoftHsmTokenOptions,
  type AesKeyOptions,
} from './softhsm-setup.js';
