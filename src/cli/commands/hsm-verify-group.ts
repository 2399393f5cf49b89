import type { Logger } from 'pino';
import type { HsmConfig } from '../../config/load.js';
import { checkFailoverGroup } from '../../doctor/hsm-failover-checks.js';
import { isStrongroomError } from '../../errors.js';
import { describeMember, type MemberSettings } from '../../keys/hsm/failover/member.js';
import { runTokenTool, type MacKeyInspection, type TokenInspection } from '../../keys/hsm/index.js';
import { formatChecks } from './doctor.js';
import { describeInspection } from './hsm.js';
import { EXIT } from '../output.js';

/** Result of `hsm verify` on one member of a failover group. */
interface MemberReport {
  name: string;
  library: string;
  inspection?: TokenInspection;
  auditKey?: MacKeyInspection;
  error?: { code: string; message: string };
}

/**
 * `hsm verify` for a failover group: lists the objects and keys of every member in order, then
 * checks the group as `strongroom serve` opens it. Sets exit code 1 when a member fails or a
 * reachable member lacks a usable master key or audit key. An unreachable member is only reported
 * while another member serves.
 */
export async function verifyGroup(
  hsm: HsmConfig,
  pin: string,
  json: boolean,
  logger: Logger,
): Promise<void> {
  const members = [hsm.providerFile, ...(hsm.failover?.standbys ?? [])];
  const reports: MemberReport[] = [];
  for (const [index, settings] of members.entries()) {
    reports.push(await inspectMember(hsm, settings, index, pin, logger));
  }
  const group = await checkFailoverGroup(hsm, pin, logger);

  const keysUnusable = reports.some(
    (report) => report.inspection?.masterKey.usable === false || report.auditKey?.usable === false,
  );
  const ok = !keysUnusable && !group.results.some((result) => result.status === 'failed');

  if (json) {
    const output = {
      keyLabel: hsm.keyLabel,
      auditKeyLabel: hsm.auditKeyLabel,
      ok,
      members: reports,
      checks: group.results,
    };
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } else {
    for (const report of reports) {
      process.stdout.write(describeReport(report, hsm));
    }
    process.stdout.write(`\n${formatChecks(group.results)}`);
  }
  if (!ok) {
    process.exitCode = EXIT.failed;
  }
}

async function inspectMember(
  hsm: HsmConfig,
  settings: MemberSettings,
  index: number,
  pin: string,
  logger: Logger,
): Promise<MemberReport> {
  const name = describeMember(settings, index);
  const access = { library: settings.library, slot: settings.slot, pin, keyWrap: hsm.keyWrap };
  try {
    const inspection = await runTokenTool('inspect', { ...access, keyLabel: hsm.keyLabel }, logger);
    const auditKey = await runTokenTool(
      'macInspect',
      { ...access, keyLabel: hsm.auditKeyLabel },
      logger,
    );
    return { name, library: settings.library, inspection, auditKey };
  } catch (error) {
    const code = isStrongroomError(error) ? error.code : 'SR_HSM_OPERATION_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    return { name, library: settings.library, error: { code, message } };
  }
}

function describeReport(report: MemberReport, hsm: HsmConfig): string {
  const head = `HSM member ${report.name}:\n`;
  if (report.inspection === undefined || report.auditKey === undefined) {
    return `${head}  not reachable (${report.error?.code ?? 'unknown'}): ${report.error?.message ?? ''}\n`;
  }
  const { auditKey } = report;
  const audit = auditKey.usable
    ? `Audit checkpoint key '${hsm.auditKeyLabel}' is usable: ${auditKey.algorithm}.\n`
    : `Audit checkpoint key '${hsm.auditKeyLabel}' is not usable (${auditKey.error.code}).\n`;
  return head + describeInspection(report.inspection, report.library, hsm.keyLabel) + audit;
}
