import { StrongroomError } from '../errors.js';

/** One key of a properties file, with the line where its logical line starts (1-based). */
export interface PropertyEntry {
  key: string;
  value: string;
  line: number;
}

/** A parsed properties file. Later entries of the same key win, as in java.util.Properties. */
export interface PropertiesFile {
  path: string;
  entries: PropertyEntry[];
  get(key: string): PropertyEntry | undefined;
}

/**
 * Parses text in the syntax of java.util.Properties.load(Reader): `=`, `:` or blanks as
 * separators, `#` and `!` comments, a backslash at the end of a line continues it, `\uXXXX` and
 * the usual escapes, and blanks at the end of a value belong to the value. A UTF-8 byte-order mark
 * and CRLF or CR line ends are accepted.
 */
export function parseProperties(text: string, path: string): PropertiesFile {
  const entries: PropertyEntry[] = [];
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = source.split(/\r\n|\r|\n/);

  let index = 0;
  while (index < lines.length) {
    const startLine = index + 1;
    let logical = stripLeadingBlanks(lines[index] ?? '');
    index += 1;

    if (logical === '' || logical.startsWith('#') || logical.startsWith('!')) {
      continue;
    }

    while (endsWithContinuation(logical)) {
      logical = logical.slice(0, -1);
      if (index >= lines.length) {
        break;
      }
      logical += stripLeadingBlanks(lines[index] ?? '');
      index += 1;
    }

    entries.push(parseLogicalLine(logical, path, startLine));
  }

  return {
    path,
    entries,
    get(key: string) {
      return entries.findLast((entry) => entry.key === key);
    },
  };
}

const BLANKS = new Set([' ', '\t', '\f']);

function stripLeadingBlanks(line: string): string {
  let start = 0;
  while (start < line.length && BLANKS.has(line[start] ?? '')) {
    start += 1;
  }
  return line.slice(start);
}

/** An odd number of backslashes at the end means the last one escapes the line break. */
function endsWithContinuation(line: string): boolean {
  let count = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i -= 1) {
    count += 1;
  }
  return count % 2 === 1;
}

function parseLogicalLine(line: string, path: string, lineNumber: number): PropertyEntry {
  let keyEnd = 0;
  while (keyEnd < line.length) {
    const char = line[keyEnd] ?? '';
    if (char === '\\') {
      keyEnd += 2;
      continue;
    }
    if (char === '=' || char === ':' || BLANKS.has(char)) {
      break;
    }
    keyEnd += 1;
  }

  let valueStart = keyEnd;
  while (valueStart < line.length && BLANKS.has(line[valueStart] ?? '')) {
    valueStart += 1;
  }
  if (line[valueStart] === '=' || line[valueStart] === ':') {
    valueStart += 1;
    while (valueStart < line.length && BLANKS.has(line[valueStart] ?? '')) {
      valueStart += 1;
    }
  }

  return {
    key: unescape(line.slice(0, Math.min(keyEnd, line.length)), path, lineNumber),
    value: unescape(line.slice(valueStart), path, lineNumber),
    line: lineNumber,
  };
}

const SIMPLE_ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f' };

function unescape(text: string, path: string, lineNumber: number): string {
  let result = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i] ?? '';
    if (char !== '\\') {
      result += char;
      i += 1;
      continue;
    }

    const next = text[i + 1];
    if (next === undefined) {
      i += 1;
      continue;
    }
    if (next === 'u') {
      const hex = text.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new StrongroomError(
          'SR_CONFIG_SYNTAX',
          `${path}:${lineNumber}: malformed \\uXXXX escape '\\u${hex}'; write four hex digits after \\u, or \\\\ for a backslash.`,
          { details: { path, line: lineNumber } },
        );
      }
      result += String.fromCharCode(Number.parseInt(hex, 16));
      i += 6;
      continue;
    }
    result += SIMPLE_ESCAPES[next] ?? next;
    i += 2;
  }
  return result;
}
