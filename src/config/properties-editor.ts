import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { parseProperties } from './properties.js';

/**
 * Sets `key` to `value` in the text of a properties file and returns the new text. The last line
 * that defines the key is replaced in place, keeping its separator style; a key that is not
 * defined is appended. Comments, order, other lines and the file's line ending stay as they were.
 */
export function setProperty(text: string, key: string, value: string): string {
  const newline = /\r\n/.test(text) ? '\r\n' : '\n';
  const file = parseProperties(text, 'text');
  const entry = file.get(key);
  const line = `${escapeKey(key)} = ${escapeValue(value)}`;
  const lines = text.split(/\r\n|\r|\n/);

  if (entry === undefined) {
    const lineEnd = text === '' || /[\r\n]$/.test(text) ? '' : newline;
    // A last entry whose final backslash continues it to the end of the file would take the
    // appended line into its value, so an empty line ends that continuation first.
    const last = file.entries.at(-1);
    const end = last === undefined ? -1 : continuationEnd(lines, last.line - 1);
    const dangling =
      end === lines.length - 1 && (lines[end] === '' || endsWithOddBackslashes(lines[end] ?? ''));
    return `${text}${lineEnd}${dangling ? newline : ''}${line}${newline}`;
  }

  const last = continuationEnd(lines, entry.line - 1);
  lines.splice(entry.line - 1, last - entry.line + 2, line);
  return lines.join(newline);
}

/**
 * Writes a file atomically with mode 0600: the text goes to a temporary file in the same folder,
 * is flushed to disk, and replaces the target by rename, so a reader sees the old file or the new
 * one and never a mix.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();

  await rename(temporary, path);
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** Returns the index of the last natural line of the logical line that starts at `start`. */
function continuationEnd(lines: string[], start: number): number {
  let index = start;
  while (index < lines.length - 1 && endsWithOddBackslashes(lines[index] ?? '')) {
    index += 1;
  }
  return index;
}

function endsWithOddBackslashes(line: string): boolean {
  const trailing = /\\*$/.exec(line)?.[0].length ?? 0;
  return trailing % 2 === 1;
}

function escapeKey(key: string): string {
  return escapeText(key).replace(/[ =:]/g, (char) => `\\${char}`);
}

/** Escapes a value for java.util.Properties: a leading blank and control characters need escapes. */
function escapeValue(value: string): string {
  const escaped = escapeText(value);
  return escaped.startsWith(' ') ? `\\${escaped}` : escaped;
}

function escapeText(text: string): string {
  let result = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\') result += '\\\\';
    else if (char === '\t') result += '\\t';
    else if (char === '\n') result += '\\n';
    else if (char === '\r') result += '\\r';
    else if (char === '\f') result += '\\f';
    else if (char === '#' || char === '!') result += `\\${char}`;
    else if (code < 0x20 || code > 0x7e) result += escapeUnicode(char);
    else result += char;
  }
  return result;
}

/** Writes a character as \uXXXX escapes, using a surrogate pair above U+FFFF, as Java does. */
function escapeUnicode(char: string): string {
  let result = '';
  for (let i = 0; i < char.length; i += 1) {
    result += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  }
  return result;
}
