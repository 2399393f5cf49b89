import type { AuditRepository } from '../../store/repositories.js';
import { formatJsonLine } from './jsonl.js';
import type { ExportSink } from './sinks.js';
import { formatSyslog, frameOctetCounting, type SyslogOptions } from './syslog.js';

/** Events read per query during an export. */
const PAGE_SIZE = 500;

export type ExportFormat = 'jsonl' | 'syslog';

export interface ExportOptions {
  format: ExportFormat;
  /** Only events with occurredAt at or after this ISO 8601 UTC time. */
  since?: string;
  syslog: SyslogOptions;
}

/**
 * Writes every event (or those since a time) in seq order to the sink. JSON lines end in a line
 * break. Syslog messages are octet-counted on a stream socket (RFC 6587) and end in a line break
 * in a file. NOTE: in a file, a value with a line break makes its syslog message span lines.
 * Returns the number of events and the last seq written.
 */
export async function exportAuditEvents(
  repository: Pick<AuditRepository, 'listChainedEvents'>,
  sink: ExportSink,
  options: ExportOptions,
): Promise<{ count: number; lastSeq: number }> {
  let afterSeq = 0;
  let count = 0;
  for (;;) {
    const page = await repository.listChainedEvents({
      afterSeq,
      limit: PAGE_SIZE,
      ...(options.since === undefined ? {} : { since: options.since }),
    });
    for (const event of page) {
      const text =
        options.format === 'jsonl' ? formatJsonLine(event) : formatSyslog(event, options.syslog);
      const framed =
        options.format === 'syslog' && sink.stream
          ? frameOctetCounting(text)
          : Buffer.from(`${text}\n`, 'utf8');
      await sink.write(framed);
      afterSeq = event.seq;
      count += 1;
    }
    if (page.length < PAGE_SIZE) {
      return { count, lastSeq: afterSeq };
    }
  }
}
