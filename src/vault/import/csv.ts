import { CsvError, parse } from 'csv-parse/sync';

/** The header of an import file. Order is free; the columns marked optional may be left out. */
export const IMPORT_COLUMNS = [
  'target_name',
  'target_address',
  'target_description',
  'account_username',
  'secret_type',
  'secret',
  'account_description',
] as const;

export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

const OPTIONAL_COLUMNS: ReadonlySet<ImportColumn> = new Set([
  'target_description',
  'account_description',
]);

/** Maximum number of data rows in one import file. */
export const IMPORT_MAX_ROWS = 5000;

/** One data row of the file, by column name, with the line on which it starts (1 is the header). */
export interface CsvRow {
  line: number;
  fieldCount: number;
  fields: Partial<Record<ImportColumn, string>>;
}

/** A problem of the file or of one row. Messages name lines and columns, never a field value. */
export interface RowError {
  line: number;
  message: string;
}

interface CsvRecord {
  record: string[];
  info: { bytes: number };
}

const CR = 0x0d;
const LF = 0x0a;

export type ParsedCsv =
  { ok: true; columns: ImportColumn[]; rows: CsvRow[] } | { ok: false; error: RowError };

/**
 * Parses an import file with csv-parse (RFC 4180: comma separated, fields quoted with `"` may span
 * lines). Returns the rows, or the first error that stops parsing: a malformed quote, a bad header
 * or too many rows. Row contents are not checked here.
 */
export function parseImportCsv(text: string): ParsedCsv {
  let records: CsvRecord[];
  try {
    // With `info` set, csv-parse returns each record with the bytes read up to its end.
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as CsvRecord[];
  } catch (error) {
    if (error instanceof CsvError) {
      return { ok: false, error: describeCsvError(error) };
    }
    throw error;
  }

  const startLine = createLineCounter(text);
  const [header, ...data] = records;
  if (header === undefined) {
    return { ok: false, error: { line: 1, message: 'the file is empty; it needs a header row' } };
  }
  const headerLine = startLine(header);
  const columns = checkHeader(header.record);
  if (typeof columns === 'string') {
    return { ok: false, error: { line: headerLine, message: columns } };
  }
  if (data.length > IMPORT_MAX_ROWS) {
    return {
      ok: false,
      error: {
        line: headerLine,
        message: `the file has ${data.length} rows, more than the maximum ${IMPORT_MAX_ROWS}; split it into several files`,
      },
    };
  }

  const rows = data.map((entry) => ({
    line: startLine(entry),
    fieldCount: entry.record.length,
    fields: Object.fromEntries(columns.map((column, index) => [column, entry.record[index]])),
  }));
  return { ok: true, columns, rows };
}

function checkHeader(names: string[]): ImportColumn[] | string {
  const columns: ImportColumn[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (!(IMPORT_COLUMNS as readonly string[]).includes(name)) {
      return `the header has an unknown column '${raw.trim().slice(0, 40)}'; the columns are ${IMPORT_COLUMNS.join(', ')}`;
    }
    if (columns.includes(name as ImportColumn)) {
      return `the header names the column ${name} twice`;
    }
    columns.push(name as ImportColumn);
  }

  const missing = IMPORT_COLUMNS.filter(
    (column) => !OPTIONAL_COLUMNS.has(column) && !columns.includes(column),
  );
  return missing.length === 0
    ? columns
    : `the header lacks the column${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`;
}

/**
 * Returns a function that gives the line on which each record starts, called once per record in
 * order. csv-parse reports the bytes read up to the end of each record, and this counts the line
 * breaks (CRLF, LF or a lone CR) before the start of the next one, after the empty lines that
 * csv-parse skips. Its own line counter is not used because it counts a skipped empty CRLF line
 * twice (csv-parse 6.2).
 */
function createLineCounter(text: string): (record: CsvRecord) => number {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  let line = 1;

  const advance = (end: number) => {
    for (; offset < end; offset += 1) {
      if (bytes[offset] === LF || (bytes[offset] === CR && bytes[offset + 1] !== LF)) {
        line += 1;
      }
    }
  };

  return (record) => {
    let start = offset;
    while (bytes[start] === CR || bytes[start] === LF) {
      start += 1;
    }
    advance(start);
    const startLine = line;
    advance(record.info.bytes);
    return startLine;
  };
}

/** Describes a csv-parse error by its code; its own message may quote a field, so it is dropped. */
function describeCsvError(error: CsvError): RowError {
  // NOTE: this line comes from csv-parse's own counter, which is one too high after each skipped
  // empty CRLF line.
  const line = typeof error.lines === 'number' ? error.lines : 1;
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return { line, message: 'a quoted field is not closed before the end of the file' };
    case 'CSV_INVALID_CLOSING_QUOTE':
      return {
        line,
        message:
          'a quote inside a quoted field is not doubled; write " inside a quoted field as ""',
      };
    case 'INVALID_OPENING_QUOTE':
      return {
        line,
        message: 'a field has a quote after its first character; quote the whole field',
      };
    default:
      return { line, message: `the CSV is malformed (${error.code})` };
  }
}
