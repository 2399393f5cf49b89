import { describe, expect, it } from 'vitest';

import { IMPORT_MAX_ROWS, parseImportCsv } from '../../src/vault/import/csv.js';

const HEADER = 'target_name,target_address,account_username,secret_type,secret';

describe('import CSV parsing', () => {
  it('numbers rows by their first line', () => {
    const text = [
      HEADER,
      'a,1.1.1.1,root,password,p1',
      '',
      'b,2.2.2.2,root,password,"line one',
      'line two"',
      'c,3.3.3.3,root,password,p3',
    ].join('\n');

    const parsed = parseImportCsv(text);

    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.rows.map((row) => row.line)).toEqual([2, 4, 6]);
      expect(parsed.rows[1]?.fields.secret).toBe('line one\nline two');
    }
  });

  it('accepts CRLF and a byte order mark', () => {
    const text = `\uFEFF${HEADER}\r\na,1.1.1.1,root,password,p1\r\n\r\nb,2.2.2.2,root,password,"x\r\ny"\r\nc,3.3.3.3,root,password,p3\r\n`;

    const parsed = parseImportCsv(text);

    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.columns[0]).toBe('target_name');
      expect(parsed.rows.map((row) => row.line)).toEqual([2, 4, 6]);
    }
  });

  it('maps columns in any order', () => {
    const parsed = parseImportCsv(
      'secret,secret_type,account_username,target_address,target_name\ns1,password,root,10.0.0.1,web',
    );

    expect(parsed.ok && parsed.rows[0]?.fields).toEqual({
      secret: 's1',
      secret_type: 'password',
      account_username: 'root',
      target_address: '10.0.0.1',
      target_name: 'web',
    });
  });

  it.each([
    ['', 1, 'the file is empty; it needs a header row'],
    [`${HEADER},secret`, 1, 'the header names the column secret twice'],
    [
      'target_name,target_address',
      1,
      'the header lacks the columns account_username, secret_type, secret',
    ],
    [`${HEADER}\na,b,c,d,"e`, 2, 'a quoted field is not closed before the end of the file'],
    [
      `${HEADER}\na,b,c,d,"e"x`,
      2,
      'a quote inside a quoted field is not doubled; write " inside a quoted field as ""',
    ],
  ])('rejects %j', (text, line, message) => {
    const parsed = parseImportCsv(text);

    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toEqual({ line, message });
  });

  it('never quotes a field in parse errors', () => {
    const parsed = parseImportCsv(`${HEADER}\na,b,c,password,"Secret-Zz90"tail`);

    expect(JSON.stringify(parsed)).not.toContain('Secret-Zz90');
    expect(JSON.stringify(parsed)).not.toContain('tail');
  });

  it('rejects too many rows', () => {
    const rows = Array.from(
      { length: IMPORT_MAX_ROWS + 1 },
      (_, index) => `t${index},a,u,password,s`,
    );

    const parsed = parseImportCsv([HEADER, ...rows].join('\n'));

    expect(!parsed.ok && parsed.error.message).toMatch(/more than the maximum 5000/);
  });
});
