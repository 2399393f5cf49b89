import type { Logger } from 'pino';
import type { HsmConfig } from '../config/load.js';
import { isStrongroomError, type ErrorCode } from '../errors.js';
import { resolveHsmPin } from '../keys/hsm-pin.js';
import { runTokenTool } from '../keys/hsm/index.js';
import type { MemberSettings } from '../keys/hsm/failover/member.js';
import type { MasterKeyRef } from '../keys/types.js';
import { checkFailoverGroup } from './hsm-failover-checks.js';
import { failedFrom, type CheckResult } from './types.js';

/** The steps of reaching the master key, in order, with the error codes that fail each one. */
const STAGES: ReadonlyArray<{ name: string; codes: readonly ErrorCode[] }> = [
  { name: 'PKCS#11 library', codes: ['SR_HSM_LIBRARY_LOAD_FAILED', 'SR_HSM_INIT_FAILED'] },
  {
    name: 'token',
    codes: [
      'SR_HSM_SLOT_NOT_FOUND',
      'SR_HSM_TOKEN_NOT_FOUND',
      'SR_HSM_TOKEN_NOT_INITIALIZED',
      'SR_HSM_TOKEN_AMBIGUOUS',
    ],
  },
  {
    name: 'login',
    codes: [
      'SR_HSM_PIN_MISSING',
      'SR_HSM_PIN_INCORRECT',
      'SR_HSM_PIN_LOCKED',
      'SR_HSM_LOGIN_FAILED',
    ],
  },
  { name: 'HSM master key', codes: [] },
];

/**
 * Loads the library, selects the token, logs in and checks the master key as `hsm verify` does,
 * and reports each step. Returns the key's reference when it is usable, for the DEK check.
 */
export async function checkHsmKey(
  hsm: HsmConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<{ results: CheckResult[]; ref: MasterKeyRef | undefined }> {
  const { providerFile, keyLabel } = hsm;
  let pin: string;
  try {
    pin = await resolveHsmPin(hsm, env);
  } catch (error) {
    const skipped = STAGES.map((stage): CheckResult => ({
      name: stage.name,
      status: 'skipped',
      message: 'skipped, because the HSM PIN is not available.',
    }));
    return { results: [failedFrom('HSM PIN', error), ...skipped], ref: undefined };
  }
  const pinResult: CheckResult = {
    name: 'HSM PIN',
    status: 'ok',
    message: `the PIN comes from ${describePinSource(hsm, env)}.`,
  };
  if (hsm.failover !== undefined) {
    return checkGroupKeys(hsm, pin, logger, pinResult);
  }

  try {
    const inspection = await runTokenTool(
      'inspect',
      {
        library: providerFile.library,
        slot: providerFile.slot,
        pin,
        keyWrap: hsm.keyWrap,
        keyLabel,
      },
      logger,
    );
    const reached = [
      `${providerFile.library} is a PKCS#11 module.`,
      `token '${inspection.tokenLabel}' is at slot ID ${inspection.slotId} (slot index ${inspection.slotIndex}).`,
      `logged in to the token '${inspection.tokenLabel}'.`,
    ];
    const results: CheckResult[] = [
      pinResult,
      ...reached.map((message, index): CheckResult => ({
        name: STAGES[index]?.name ?? '',
        status: 'ok',
        message,
      })),
    ];

    const { masterKey } = inspection;
    if (!masterKey.usable) {
      results.push({
        name: 'HSM master key',
        status: 'failed',
        code: masterKey.error.code,
        message: masterKey.error.message,
      });
      return { results, ref: undefined };
    }
    const computed =
      masterKey.keyWrap === 'ecb-rfc3394'
        ? ' computed over CKM_AES_ECB (strongroom.hsm.keyWrap)'
        : '';
    results.push({
      name: 'HSM master key',
      status: 'ok',
      message: `key '${keyLabel}' is usable with ${masterKey.mechanism}${computed}, check value ${masterKey.kcv}.`,
    });
    results.push(await checkAuditKey(hsm, providerFile, pin, logger));
    return { results, ref: { provider: 'hsm', keyId: keyLabel, kcv: masterKey.kcv } };
  } catch (error) {
    return { results: [pinResult, ...stageResults(error)], ref: undefined };
  }
}

/**
 * Checks every member of the failover group as `strongroom serve` opens them, then the audit
 * checkpoint key on the member that would serve.
 */
async function checkGroupKeys(
  hsm: HsmConfig,
  pin: string,
  logger: Logger,
  pinResult: CheckResult,
): Promise<{ results: CheckResult[]; ref: MasterKeyRef | undefined }> {
  const group = await checkFailoverGroup(hsm, pin, logger);
  const results = [pinResult, ...group.results];
  if (group.active === undefined) {
    return { results, ref: undefined };
  }
  results.push(await checkAuditKey(hsm, group.active.settings, pin, logger));
  return { results, ref: { provider: 'hsm', keyId: hsm.keyLabel, kcv: group.active.kcv } };
}

/** Names where resolveHsmPin takes the PIN from, without the PIN itself. */
function describePinSource(hsm: HsmConfig, env: NodeJS.ProcessEnv): string {
  if (hsm.sealedPin !== undefined) {
    return "hsm.keystore.load.password in security.properties, sealed by 'strongroom hsm register'";
  }
  const file = env['STRONGROOM_HSM_PIN_FILE'];
  return file !== undefined && file !== ''
    ? `the file ${file} (STRONGROOM_HSM_PIN_FILE)`
    : 'STRONGROOM_HSM_PIN';
}

/** Checks the audit checkpoint key as the service's start does: found, the right type, and it MACs. */
async function checkAuditKey(
  hsm: HsmConfig,
  member: MemberSettings,
  pin: string,
  logger: Logger,
): Promise<CheckResult> {
  const { auditKeyLabel } = hsm;
  const name = 'HSM audit checkpoint key';
  try {
    const inspection = await runTokenTool(
      'macInspect',
      { library: member.library, slot: member.slot, pin, keyLabel: auditKeyLabel },
      logger,
    );
    if (!inspection.usable) {
      return {
        name,
        status: 'failed',
        code: inspection.error.code,
        message: inspection.error.message,
      };
    }
    return {
      name,
      status: 'ok',
      message: `key '${auditKeyLabel}' is usable with ${inspection.algorithm}.`,
    };
  } catch (error) {
    return failedFrom(name, error);
  }
}

/** Marks the stages before the failing one ok, the failing one failed and the later ones skipped. */
function stageResults(error: unknown): CheckResult[] {
  const code = isStrongroomError(error) ? error.code : undefined;
  const found = STAGES.findIndex((stage) => code !== undefined && stage.codes.includes(code));
  // An unexpected PKCS#11 failure is charged to the token, the step that makes most calls.
  const failing = found < 0 ? 1 : found;

  return STAGES.map((stage, index): CheckResult => {
    if (index < failing) {
      return { name: stage.name, status: 'ok', message: 'passed before the failure below.' };
    }
    if (index === failing) {
      return failedFrom(stage.name, error);
    }
    return {
      name: stage.name,
      status: 'skipped',
      message: `skipped, because ${STAGES[failing]?.name} failed.`,
    };
  });
}
