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
  info: { lines: number };
  raw: string;
}

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
    // With `info` and `raw` set, csv-parse returns each record with its position and source text.
    records = parse(text, {
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as CsvRecord[];
  } catch (error) {
    if (error instanceof CsvError) {
      return { ok: false, error: describeCsvError(error) };
    }
    throw error;
  }

  const [header, ...data] = records;
  if (header === undefined) {
    return { ok: false, error: { line: 1, message: 'the file is empty; it needs a header row' } };
  }
  const columns = checkHeader(header.record);
  if (typeof columns === 'string') {
    return { ok: false, error: { line: startLine(header), message: columns } };
  }
  if (data.length > IMPORT_MAX_ROWS) {
    return {
      ok: false,
      error: {
        line: startLine(data[IMPORT_MAX_ROWS] ?? header),
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
 * Returns the line on which a record starts. csv-parse reports the line on which it ends, and its
 * raw text includes the empty lines skipped before it and the line break after it.
 */
function startLine(entry: CsvRecord): number {
  const body = entry.raw.replace(/^(\r?\n)+/, '').replace(/\r?\n$/, '');
  const breaks = body.match(/\n/g)?.length ?? 0;
  return entry.info.lines - breaks;
}

/** Describes a csv-parse error by its code; its own message may quote a field, so it is dropped. */
function describeCsvError(error: CsvError): RowError {
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
