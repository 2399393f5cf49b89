import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProperties } from '../../src/config/properties.js';
import { setProperty } from '../../src/config/properties-editor.js';

/**
 * Writes text as a properties key or value with every character other than an ASCII letter or
 * digit as a \uXXXX escape. It is deliberately simpler than the product's writer, so the generated
 * files do not depend on the code under test.
 */
function escapeAll(text: string): string[] {
  const units: string[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const char = text.charAt(i);
    units.push(
      /[A-Za-z0-9]/.test(char) ? char : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  return units;
}

/** Keys and values with the characters that properties syntax treats specially. */
const specialText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(' ', '\t', '\f', '=', ':', '#', '!', '\\', '\n', '\r', 'é', '€', '😀', 'u'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 20,
});
const anyText = fc.oneof(specialText, fc.string({ unit: 'binary', maxLength: 20 }), fc.string());

const blanks = fc.string({ unit: fc.constantFrom(' ', '\t', '\f'), maxLength: 3 });

/** One line of a generated file, kept with the key and value it defines. */
type Line =
  { kind: 'entry'; key: string; value: string; text: string } | { kind: 'other'; text: string };

const entryLine = fc
  .record({
    key: anyText,
    value: anyText,
    indent: blanks,
    separator: fc.constantFrom('=', ' = ', ':', ' : ', ' ', '\t'),
    breakAt: fc.option(fc.nat(), { nil: undefined }),
    continuationIndent: blanks,
  })
  .map(({ key, value, indent, separator, breakAt, continuationIndent }): Line => {
    const valueUnits = escapeAll(value);
    let valueText = valueUnits.join('');
    // A continuation line splits the value between two escapes, never inside one.
    if (breakAt !== undefined && valueUnits.length > 0) {
      const at = breakAt % valueUnits.length;
      valueText = `${valueUnits.slice(0, at).join('')}\\\n${continuationIndent}${valueUnits.slice(at).join('')}`;
    }
    // An empty key needs `=` or `:`, because a line that starts with a blank separator is read
    // as a key that starts after the blanks.
    const keySeparator = key === '' && separator.trim() === '' ? '=' : separator;
    return {
      kind: 'entry',
      key,
      value,
      text: `${indent}${escapeAll(key).join('')}${keySeparator}${valueText}`,
    };
  });

const commentLine = fc
  .record({
    indent: blanks,
    marker: fc.constantFrom('#', '!'),
    body: fc.string({ unit: 'binary', maxLength: 20 }).map((body) => body.replace(/[\r\n]/g, '')),
  })
  .map(({ indent, marker, body }): Line => ({ kind: 'other', text: `${indent}${marker}${body}` }));

const blankLine = blanks.map((text): Line => ({ kind: 'other', text }));

const propertiesFile = fc.record({
  lines: fc.array(fc.oneof(entryLine, entryLine, commentLine, blankLine), { maxLength: 12 }),
  newline: fc.constantFrom('\n', '\r\n'),
  finalNewline: fc.boolean(),
  danglingContinuation: fc.boolean(),
});

/**
 * Joins the lines into a file. With `danglingContinuation`, a last entry ends in a backslash, which
 * continues it into the end of the file without changing its value.
 */
function renderFile(
  lines: Line[],
  newline: string,
  finalNewline: boolean,
  danglingContinuation = false,
): string {
  const texts = lines.map((line) => line.text.replace(/\n/g, newline));
  if (danglingContinuation && lines.at(-1)?.kind === 'entry') {
    texts[texts.length - 1] += '\\';
  }
  const body = texts.join(newline);
  return finalNewline && lines.length > 0 ? `${body}${newline}` : body;
}

function lastValues(lines: Line[]): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of lines) {
    if (line.kind === 'entry') {
      values.set(line.key, line.value);
    }
  }
  return values;
}

function commentLines(text: string): string[] {
  return text.split(/\r\n|\n/).filter((line) => /^[ \t\f]*[#!]/.test(line));
}

/** Tells whether `part` appears in `whole` in the same order, possibly with other items between. */
function isSubsequence(part: string[], whole: string[]): boolean {
  let next = 0;
  for (const item of whole) {
    if (next < part.length && item === part[next]) {
      next += 1;
    }
  }
  return next === part.length;
}

/** A generated file with the key to set: one of its keys or a new one. */
const edit = propertiesFile.chain((file) => {
  const keys = [...lastValues(file.lines).keys()];
  const key = keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), anyText) : anyText;
  return fc.record({ file: fc.constant(file), key, value: anyText });
});

describe('setProperty properties', () => {
  it('generated file parses to its entries', () => {
    fc.assert(
      fc.property(propertiesFile, ({ lines, newline, finalNewline, danglingContinuation }) => {
        const parsed = parseProperties(
          renderFile(lines, newline, finalNewline, danglingContinuation),
          'p',
        );
        const values = new Map(parsed.entries.map((entry) => [entry.key, entry.value]));

        expect(values).toEqual(lastValues(lines));
      }),
      { numRuns: 300 },
    );
  });

  it('round trip keeps other keys and comments', () => {
    fc.assert(
      fc.property(edit, ({ file, key, value }) => {
        const text = renderFile(
          file.lines,
          file.newline,
          file.finalNewline,
          file.danglingContinuation,
        );
        const updated = setProperty(text, key, value);
        const parsed = parseProperties(updated, 'p');

        expect(parsed.get(key)?.value).toBe(value);
        for (const [otherKey, otherValue] of lastValues(file.lines)) {
          if (otherKey !== key) {
            expect(parsed.get(otherKey)?.value).toBe(otherValue);
          }
        }
        const expectedKeys = new Set([...lastValues(file.lines).keys(), key]);
        expect(new Set(parsed.entries.map((entry) => entry.key))).toEqual(expectedKeys);
        expect(isSubsequence(commentLines(text), commentLines(updated))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('setting a value twice is idempotent', () => {
    fc.assert(
      fc.property(edit, ({ file, key, value }) => {
        const once = setProperty(
          renderFile(file.lines, file.newline, file.finalNewline, file.danglingContinuation),
          key,
          value,
        );

        expect(setProperty(once, key, value)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the CRLF line ending', () => {
    fc.assert(
      fc.property(edit, ({ file, key, value }) => {
        fc.pre(file.newline === '\r\n' && file.lines.length > 1);
        const updated = setProperty(
          renderFile(file.lines, '\r\n', file.finalNewline, file.danglingContinuation),
          key,
          value,
        );

        expect(updated.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      }),
      { numRuns: 200 },
    );
  });
});
