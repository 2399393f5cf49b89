import { resolve } from 'node:path';

import type { Command } from 'commander';

import { openCheckpointKeys, openRetiredKeysOfKeyring } from '../../audit/chain/keys.js';
import type { ChainReport } from '../../audit/chain/report.js';
import { verifyAuditChain } from '../../audit/chain/verify.js';
import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import { openFileCheckpointKey } from '../../keys/file/checkpoint-key.js';
import { openKeyring } from '../../keys/open-keyring.js';
import { createCliLogger } from '../logger.js';
import { openStore } from '../../store/index.js';
import { EXIT, runCommand } from '../output.js';
import { registerAuditExport } from './audit-export.js';

interface VerifyFlags {
  home?: string;
  json?: boolean;
  retiredKeyFile: string[];
}

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('verify and export the audit trail');

  audit
    .command('verify')
    .description(
      'walk the audit hash chain and check every checkpoint MAC; exit 0 only when the chain is intact, 1 otherwise',
    )
    .option('--home <dir>', HOME_HELP)
    .option(
      '--retired-key-file <path>',
      'a retired master key file whose checkpoints to check directly; repeat for several',
      (path: string, paths: string[]) => [...paths, path],
      [],
    )
    .option('--json', 'print the report as JSON')
    .action(async (flags: VerifyFlags) => {
      await runCommand(flags.json === true, () => verify(flags));
    });

  registerAuditExport(audit);
}

async function verify(flags: VerifyFlags): Promise<void> {
  const config = await loadConfig(resolveHome(flags.home));
  const logger = createCliLogger();
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  try {
    const keyring = await openKeyring(config, store.keys, logger);
    try {
      const keys = await openCheckpointKeys(config, keyring, logger);
      let report: ChainReport;
      try {
        for (const path of flags.retiredKeyFile) {
          keys.push(await openFileCheckpointKey(resolve(path)));
        }
        keys.push(...(await openRetiredKeysOfKeyring(store.audit, keyring, keys, logger)));
        report = await verifyAuditChain(store.audit, keys);
      } finally {
        for (const key of keys) {
          await key.close();
        }
      }

      process.stdout.write(
        flags.json === true ? `${JSON.stringify(report)}\n` : describeReport(report),
      );
      if (!report.intact) {
        process.exitCode = EXIT.failed;
      }
    } finally {
      await keyring.close();
    }
  } finally {
    await store.close();
  }
}

/** Formats a report for a terminal: a summary, then one line per finding. */
export function describeReport(report: ChainReport): string {
  const last = report.lastCheckpoint;
  const lines = [
    `Audit chain: ${report.eventCount} event(s), last seq ${report.lastEventSeq}, chain head seq ${report.headSeq}.`,
    last === null
      ? 'No checkpoint has been written yet.'
      : `${report.checkpointCount} checkpoint(s); the last, ${last.id}, covers seq ${last.eventSeq} (${last.createdAt}, ${last.provider} key '${last.keyId}', ${last.algorithm}, MAC ${last.macValid ? 'valid' : 'NOT valid'}).`,
    `Verified through seq ${report.verifiedThroughSeq}; checkpointed through seq ${report.checkpointedThroughSeq}.`,
    ...report.rollovers.map(
      (rollover) =>
        `Key rollover ${rollover.id} at seq ${rollover.eventSeq} (${rollover.createdAt}): ${rollover.oldProvider} key '${rollover.oldKeyId}' to ${rollover.newProvider} key '${rollover.newKeyId}', ${rollover.status}.`,
    ),
    ...report.retiredKeys.map((retired) => `${retired.message}.`),
  ];
  if (report.intact) {
    lines.push('The chain is intact.');
  } else {
    lines.push(
      `The chain is NOT intact: ${report.findings.length + report.findingsOmitted} finding(s).`,
    );
    for (const finding of report.findings) {
      const range =
        finding.lastSeq === undefined
          ? `seq ${finding.seq}`
          : `seq ${finding.seq}-${finding.lastSeq}`;
      lines.push(`  ${range}: ${finding.kind}: ${finding.message}`);
    }
    if (report.findingsOmitted > 0) {
      lines.push(`  ... and ${report.findingsOmitted} more finding(s) not listed.`);
    }
  }
  return `${lines.join('\n')}\n`;
}
