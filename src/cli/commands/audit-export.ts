import { hostname } from 'node:os';

import { InvalidArgumentError, type Command } from 'commander';

import { exportAuditEvents, type ExportFormat } from '../../audit/export/run.js';
import { openFileSink, openSocketSink, type ExportSink } from '../../audit/export/sinks.js';
import { FACILITIES } from '../../audit/export/syslog.js';
import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import { createCliLogger } from '../logger.js';
import { openStore } from '../../store/index.js';
import { EXIT, runCommand } from '../output.js';

interface ExportFlags {
  home?: string;
  format: ExportFormat;
  since?: string;
  output?: string;
  socket?: string;
  facility: number;
  json?: boolean;
}

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';

export function registerAuditExport(audit: Command): void {
  audit
    .command('export')
    .description(
      'write audit events in seq order as JSON lines or RFC 5424 syslog messages to a new file or a unix stream socket',
    )
    .requiredOption('--format <format>', 'jsonl or syslog', parseFormat)
    .option(
      '--since <time>',
      'only events at or after this ISO 8601 time, for example 2026-01-31T00:00:00Z',
      parseSince,
    )
    .option(
      '--output <file>',
      'new file to write (mode 0600); an existing file is never overwritten',
    )
    .option(
      '--socket <path>',
      'unix stream socket to send to; syslog messages use RFC 6587 octet counting',
    )
    .option(
      '--facility <name>',
      'syslog facility name or code 0-23',
      parseFacility,
      FACILITIES['authpriv'],
    )
    .option('--home <dir>', HOME_HELP)
    .option('--json', 'print the summary as JSON')
    .action(async (flags: ExportFlags) => {
      if ((flags.output === undefined) === (flags.socket === undefined)) {
        process.stderr.write('strongroom: give exactly one of --output FILE and --socket PATH.\n');
        process.exitCode = EXIT.usage;
        return;
      }
      await runCommand(flags.json === true, () => runExport(flags));
    });
}

async function runExport(flags: ExportFlags): Promise<void> {
  const config = await loadConfig(resolveHome(flags.home));
  const logger = createCliLogger();
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  try {
    const sink: ExportSink =
      flags.output === undefined
        ? await openSocketSink(flags.socket ?? '')
        : await openFileSink(flags.output);
    let result: { count: number; lastSeq: number };
    try {
      result = await exportAuditEvents(store.audit, sink, {
        format: flags.format,
        ...(flags.since === undefined ? {} : { since: flags.since }),
        syslog: { facility: flags.facility, hostname: hostname(), procId: String(process.pid) },
      });
    } finally {
      await sink.close();
    }

    const target = flags.output ?? flags.socket ?? '';
    process.stdout.write(
      flags.json === true
        ? `${JSON.stringify({ format: flags.format, target, ...result })}\n`
        : `Exported ${result.count} event(s) up to seq ${result.lastSeq} as ${flags.format} to ${target}.\n`,
    );
  } finally {
    await store.close();
  }
}

function parseFormat(value: string): ExportFormat {
  if (value !== 'jsonl' && value !== 'syslog') {
    throw new InvalidArgumentError(`'${value}' is not a format; expected jsonl or syslog.`);
  }
  return value;
}

/** Accepts an ISO 8601 time with a zone and returns it in the stored form, UTC with milliseconds. */
function parseSince(value: string): string {
  const time = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}(T.*(Z|[+-]\d{2}:\d{2}))?$/.test(value) || Number.isNaN(time)) {
    throw new InvalidArgumentError(
      `'${value}' is not an ISO 8601 date or time with a zone; for example 2026-01-31 or 2026-01-31T08:00:00Z.`,
    );
  }
  return new Date(time).toISOString();
}

function parseFacility(value: string): number {
  const named = FACILITIES[value];
  if (named !== undefined) {
    return named;
  }
  const code = Number(value);
  if (!/^\d{1,2}$/.test(value) || code > 23) {
    throw new InvalidArgumentError(
      `'${value}' is not a syslog facility; give a name such as authpriv or local0, or a code from 0 to 23.`,
    );
  }
  return code;
}
