import { describe, expect, it } from 'vitest';

import {
  escapeParamValue,
  formatSyslog,
  frameOctetCounting,
  SD_ID,
  severityOf,
} from '../../src/audit/export/syslog.js';
import { formatJsonLine } from '../../src/audit/export/jsonl.js';
import type { ChainedAuditEvent } from '../../src/store/repositories.js';
import { parseRfc5424 } from '../support/rfc5424.js';

const OPTIONS = { facility: 10, hostname: 'vault01.example.internal', procId: '4242' };

function event(overrides: Partial<ChainedAuditEvent> = {}): ChainedAuditEvent {
  return {
    seq: 17,
    occurredAt: '2030-01-02T03:04:05.678Z',
    actor: 'alice',
    action: 'secret.reveal',
    objectType: 'account',
    objectId: 'a-1',
    outcome: 'success',
    reason: 'ticket "INC-1" [db] \\ done ] end',
    clientAddress: '::1',
    details: {},
    detailsJson: '{"note":"x]y","quote":"\\""}',
    prevHash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
    ...overrides,
  };
}

describe('syslog export', () => {
  it('message follows the RFC 5424 grammar', () => {
    const parsed = parseRfc5424(formatSyslog(event(), OPTIONS));

    expect(parsed.pri).toBe(10 * 8 + 5);
    expect(parsed.version).toBe(1);
    expect(parsed.timestamp).toBe('2030-01-02T03:04:05.678Z');
    expect(parsed.hostname).toBe('vault01.example.internal');
    expect(parsed.appName).toBe('strongroom');
    expect(parsed.procId).toBe('4242');
    expect(parsed.msgId).toBe('secret.reveal');
    expect(parsed.msg).toBe('\u{FEFF}alice secret.reveal account a-1 success');
  });

  it('SD-PARAM values round-trip with escaping', () => {
    const source = event();
    const parsed = parseRfc5424(formatSyslog(source, OPTIONS));

    expect(parsed.elements).toHaveLength(1);
    expect(parsed.elements[0]!.id).toBe(SD_ID);
    expect(Object.fromEntries(parsed.elements[0]!.params)).toEqual({
      seq: '17',
      occurredAt: source.occurredAt,
      actor: 'alice',
      action: 'secret.reveal',
      objectType: 'account',
      objectId: 'a-1',
      outcome: 'success',
      reason: source.reason,
      clientAddress: '::1',
      details: source.detailsJson,
      prevHash: source.prevHash,
      hash: source.hash,
    });
  });

  it('escapes quote, backslash and bracket', () => {
    expect(escapeParamValue('a"b\\c]d[e')).toBe('a\\"b\\\\c\\]d[e');
  });

  it('non-ASCII values stay UTF-8', () => {
    const parsed = parseRfc5424(
      formatSyslog(event({ actor: 'jürgen', reason: 'Überprüfung ✓' }), OPTIONS),
    );

    const params = Object.fromEntries(parsed.elements[0]!.params);
    expect(params['actor']).toBe('jürgen');
    expect(params['reason']).toBe('Überprüfung ✓');
  });

  it('header fields fall back to NILVALUE', () => {
    const parsed = parseRfc5424(
      formatSyslog(event({ action: 'weird action with spaces' }), {
        ...OPTIONS,
        hostname: 'bad host',
        procId: '',
      }),
    );

    expect(parsed.hostname).toBe('-');
    expect(parsed.procId).toBe('-');
    expect(parsed.msgId).toBe('-');
  });

  it('long MSGID is cut to 32 characters', () => {
    const parsed = parseRfc5424(formatSyslog(event({ action: `x.${'y'.repeat(40)}` }), OPTIONS));

    expect(parsed.msgId).toHaveLength(32);
  });

  it.each([
    [{ action: 'access.break-glass', outcome: 'success' }, 1],
    [{ action: 'auth.login', outcome: 'failure' }, 4],
    [{ action: 'secret.reveal', outcome: 'success' }, 5],
    [{ action: 'secret.checkout', outcome: 'success' }, 5],
    [{ action: 'key.rotate', outcome: 'success' }, 5],
    [{ action: 'auth.login', outcome: 'success' }, 6],
  ] as const)('severity of %o is %i', (fields, severity) => {
    expect(severityOf(fields)).toBe(severity);
    expect(parseRfc5424(formatSyslog(event(fields), { ...OPTIONS, facility: 16 })).pri).toBe(
      16 * 8 + severity,
    );
  });

  it('octet counting counts UTF-8 bytes', () => {
    const framed = frameOctetCounting('ü ✓');

    expect(framed.toString('utf8')).toBe('6 ü ✓');
  });

  it('JSON line keeps the stored details text', () => {
    const line = JSON.parse(formatJsonLine(event())) as Record<string, unknown>;

    expect(line['details']).toBe('{"note":"x]y","quote":"\\""}');
    expect(line['hash']).toBe('b'.repeat(64));
    expect(line['seq']).toBe(17);
  });
});
