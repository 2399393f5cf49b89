import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
import { ckrOf, describeFailure } from './pkcs11-failures.js';

const EXAMPLE_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';

/** Loads a PKCS#11 module. The path must be absolute, as in the SunPKCS11 provider file. */
export function loadModule(library: string): PKCS11 {
  if (!isAbsolute(library)) {
    throw new StrongroomError(
      'SR_HSM_LIBRARY_LOAD_FAILED',
      `PKCS#11 library path '${library}' is not absolute. Set library in the PKCS#11 provider file to the absolute path of the module, for example ${EXAMPLE_LIBRARY}.`,
      { details: { library } },
    );
  }

  if (!existsSync(library)) {
    throw new StrongroomError(
      'SR_HSM_LIBRARY_LOAD_FAILED',
      `PKCS#11 library ${library} does not exist. Install the HSM client package, or set library in the PKCS#11 provider file to the path of the module (for example ${EXAMPLE_LIBRARY}).`,
      { details: { library } },
    );
  }

  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(library);
  } catch (error) {
    throw new StrongroomError(
      'SR_HSM_LIBRARY_LOAD_FAILED',
      `PKCS#11 library ${library} could not be loaded: ${describeFailure(error)}. Check that it is a PKCS#11 module for this ` +
        `architecture and that the libraries it needs are installed (ldd ${library}).`,
      { cause: error, details: { library } },
    );
  }
  return pkcs11;
}

/**
 * Calls C_Initialize with CKF_OS_LOCKING_OK. Without that flag PKCS#11 lets a module assume a
 * single thread, and SoftHSM 2.6 then runs without locks, which the pool's concurrent sessions
 * cannot afford. CKR_CRYPTOKI_ALREADY_INITIALIZED means that another part of this process
 * initialised the module first, which is fine.
 */
export function initializeModule(pkcs11: PKCS11, library: string, log: HsmLog): void {
  try {
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (ckrOf(error) === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      log.debug('the PKCS#11 module was already initialised in this process', { library });
      return;
    }
    throw new StrongroomError(
      'SR_HSM_INIT_FAILED',
      `C_Initialize of ${library} failed with ${describeFailure(error)}. Check the module's own configuration ` +
        `(SOFTHSM2_CONF for SoftHSM, CS_PKCS11_R3_CFG for Utimaco) and its log.`,
      { cause: error, details: { library, ckr: describeFailure(error) } },
    );
  }
}

/**
 * Calls C_Finalize. A failure is logged at debug level and not thrown, because finalising a module
 * that lost its device is expected to fail and the caller goes on either way.
 */
export function finalizeModule(pkcs11: PKCS11, library: string, log: HsmLog): void {
  try {
    pkcs11.C_Finalize();
  } catch (error) {
    log.debug('C_Finalize failed', { library, ckr: describeFailure(error) });
  }
}
