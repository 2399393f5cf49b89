import type { ChainedAuditEvent } from '../../store/repositories.js';

/**
 * The SD-ID of the event fields. 32473 is the private enterprise number that RFC 5612 reserves for
 * documentation and examples; Strongroom has no number of its own.
 * NOTE: a receiver that filters on enterprise numbers must allow 32473.
 */
export const SD_ID = 'strongroom@32473';

/** Facility names of RFC 5424, section 6.2.1, and their codes. */
export const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** Severity codes of RFC 5424, section 6.2.1. */
export const SEVERITY = {
  alert: 1,
  warning: 4,
  notice: 5,
  informational: 6,
} as const;

/** The UTF-8 byte order mark that RFC 5424, section 6.4, puts before a UTF-8 MSG. */
const BOM = '\u{FEFF}';

export interface SyslogOptions {
  /** Facility code from 0 to 23. */
  facility: number;
  /** HOSTNAME field; '-' when it has characters that RFC 5424 does not allow. */
  hostname: string;
  /** PROCID field. */
  procId: string;
}

/**
 * Chooses the severity of an event: alert for break-glass actions, warning for a failure,
 * notice for reveals, checkouts and key operations, informational for the rest.
 */
export function severityOf(event: Pick<ChainedAuditEvent, 'action' | 'outcome'>): number {
  if (event.action.includes('break-glass') || event.action.includes('breakglass')) {
    return SEVERITY.alert;
  }
  if (event.outcome === 'failure') {
    return SEVERITY.warning;
  }
  if (/^(secret\.reveal|secret\.checkout|secret\.checkin|key\.)/.test(event.action)) {
    return SEVERITY.notice;
  }
  return SEVERITY.informational;
}

/**
 * Formats one event as an RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
 * [SD-ELEMENT] BOM MSG`. Every field of the event, its hashes included, is an SD-PARAM, so a
 * receiver can check the chain from the syslog copy alone.
 */
export function formatSyslog(event: ChainedAuditEvent, options: SyslogOptions): string {
  const pri = options.facility * 8 + severityOf(event);
  const params: Array<[string, string]> = [
    ['seq', String(event.seq)],
    ['occurredAt', event.occurredAt],
    ['actor', event.actor],
    ['action', event.action],
    ['objectType', event.objectType],
    ['objectId', event.objectId],
    ['outcome', event.outcome],
    ['reason', event.reason],
    ['clientAddress', event.clientAddress],
    ['details', event.detailsJson],
    ['prevHash', event.prevHash],
    ['hash', event.hash],
  ];
  const structuredData = `[${SD_ID}${params.map(([name, value]) => ` ${name}="${escapeParamValue(value)}"`).join('')}]`;
  const message = `${event.actor} ${event.action} ${event.objectType} ${event.objectId || '-'} ${event.outcome}`;

  return [
    `<${pri}>1`,
    event.occurredAt,
    headerField(options.hostname, 255),
    'strongroom',
    headerField(options.procId, 128),
    headerField(event.action, 32),
    `${structuredData} ${BOM}${message}`,
  ].join(' ');
}

/**
 * Escapes an SD-PARAM value as RFC 5424, section 6.3.3, requires: '"', '\' and ']' get a
 * backslash. Line breaks stay as they are, since PARAM-VALUE allows any UTF-8, but the octet
 * counting framing keeps them from splitting a message.
 */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (character) => `\\${character}`);
}

/** Returns a header field as PRINTUSASCII (33 to 126) of at most `maxLength`, or the NILVALUE '-'. */
function headerField(value: string, maxLength: number): string {
  return value !== '' && /^[\x21-\x7e]+$/.test(value) ? value.slice(0, maxLength) : '-';
}

/** Frames a message for a stream with octet counting (RFC 6587, section 3.4.1): `MSG-LEN SP MSG`. */
export function frameOctetCounting(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length} `, 'ascii'), bytes]);
}
