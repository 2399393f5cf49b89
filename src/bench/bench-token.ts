import pino from 'pino';
import { StrongroomError } from '../errors.js';
import {
  findSoftHsmLibrary,
  generateAesKey,
  generateSoftHsmAuditKey,
  initSoftHsmToken,
  writeSoftHsmConfig,
} from '../keys/hsm/index.js';
import type { BenchToken } from './hsm-measurements.js';

const USER_PIN = 'bench-user-pin';
const SO_PIN = 'bench-so-pin';

/**
 * Makes a SoftHSM token with an AES-256 key and the audit checkpoint key ('<key label>-audit', the
 * default of strongroom.audit.keyLabel) in `directory` for one benchmark, and points
 * SOFTHSM2_CONF at it. SoftHSM reads that variable in C_Initialize, both in this thread and in the
 * provider's worker, so it is set before either loads the module.
 */
export async function createBenchToken(
  directory: string,
  labels: { tokenLabel: string; keyLabel: string },
): Promise<BenchToken> {
  const library = findSoftHsmLibrary();
  if (library === undefined) {
    throw new StrongroomError(
      'SR_HSM_TOOL_FAILED',
      'the benchmarks need SoftHSM2. Install the softhsm2 and opensc packages.',
    );
  }

  const { configPath } = await writeSoftHsmConfig(directory);
  process.env['SOFTHSM2_CONF'] = configPath;
  await initSoftHsmToken({
    configPath,
    label: labels.tokenLabel,
    soPin: SO_PIN,
    userPin: USER_PIN,
  });
  await generateAesKey({
    configPath,
    library,
    tokenLabel: labels.tokenLabel,
    userPin: USER_PIN,
    keyLabel: labels.keyLabel,
  });
  await generateSoftHsmAuditKey(
    {
      configPath,
      library,
      tokenLabel: labels.tokenLabel,
      userPin: USER_PIN,
      keyLabel: `${labels.keyLabel}-audit`,
    },
    pino({ level: 'warn' }),
  );
  return { library, ...labels, pin: USER_PIN };
}
