import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProperties } from '../../src/config/properties.js';
import { parseProviderFile } from '../../src/config/provider-file.js';
import { parseUtimacoConfig } from '../../src/config/utimaco-ini.js';
import { StrongroomError } from '../../src/errors.js';

/** The max time in milliseconds that one parse of one input may take before it counts as a hang. */
const MAX_PARSE_MS = 1_000;

/** Characters that the three syntaxes treat specially, to reach deeper into each parser. */
const syntaxUnit = fc.constantFrom(
  ...['\\', '=', ':', '#', '!', ';', ' ', '\t', '\f', '\n', '\r', '\r\n', '\uFEFF', '"'],
  ...['[', ']', '@', '/', '.', ',', 'u', '0', '9', 'a', 'F', 'é', '😀'],
  ...['library', 'slot', 'tokenLabel', 'Device', 'Global', 'CryptoServer', 'Logging', '3001'],
);

/** Arbitrary text: ASCII, any code point, lone surrogates, syntax-heavy text and large inputs. */
const arbitraryText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) }),
  fc.string({ unit: syntaxUnit, maxLength: 200 }),
  fc.string({ unit: syntaxUnit, minLength: 2_000, maxLength: 20_000 }),
  fc.string({ unit: 'binary', minLength: 10_000, maxLength: 50_000 }),
);

const parsers: [string, (text: string, path: string) => unknown][] = [
  ['parseProperties', parseProperties],
  ['parseProviderFile', parseProviderFile],
  ['parseUtimacoConfig', parseUtimacoConfig],
];

describe('configuration parsers on arbitrary text', () => {
  it.each(parsers)('%s returns or throws StrongroomError', (_name, parse) => {
    fc.assert(
      fc.property(arbitraryText, (text) => {
        const started = performance.now();
        try {
          parse(text, '/etc/strongroom/input');
        } catch (error) {
          expect(error).toBeInstanceOf(StrongroomError);
          expect((error as StrongroomError).code).toBe('SR_CONFIG_SYNTAX');
        }

        expect(performance.now() - started).toBeLessThan(MAX_PARSE_MS);
      }),
      { numRuns: 300, interruptAfterTimeLimit: 10_000 },
    );
  });
});

/** A value without line breaks and without blanks at either end, which trim() would remove. */
const lineText = fc
  .string({ unit: 'binary', maxLength: 30 })
  .map((text) => text.replace(/[\r\n]/g, '').trim());

const unquotedValue = lineText.filter((text) => !text.startsWith('"'));

/** A value written in double quotes, which keep blanks at its ends. */
const quotedValue = fc
  .string({ unit: 'binary', maxLength: 30 })
  .map((text) => text.replace(/[\r\n]/g, ''));

const absolutePath = fc
  .array(fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/), { minLength: 1, maxLength: 4 })
  .map((parts) => `/${parts.join('/')}`);

const spacedPath = fc
  .array(fc.stringMatching(/^[A-Za-z0-9._ -]{1,12}$/), { minLength: 1, maxLength: 4 })
  .map((parts) => `/${parts.join('/')}`);

/** Generates `keyword = value` lines, with the value quoted or not and blanks around `=`. */
function keywordLine(keyword: string, value: fc.Arbitrary<string>, quoted: fc.Arbitrary<string>) {
  const blanks = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
  return fc
    .oneof(
      fc.record({ value, quote: fc.constant(''), before: blanks, after: blanks, indent: blanks }),
      fc.record({
        value: quoted,
        quote: fc.constant('"'),
        before: blanks,
        after: blanks,
        indent: blanks,
      }),
    )
    .map(({ value: text, quote, before, after, indent }) => ({
      keyword,
      value: text,
      text: `${indent}${keyword}${before}=${after}${quote}${text}${quote}`,
    }));
}

const JAVA_ONLY_KEYWORDS = ['showInfo', 'handleStartupErrors', 'attributes', 'nssArgs'];

type Slot =
  | { keyword: 'slot' | 'slotListIndex'; number: number }
  | { keyword: 'tokenLabel'; label: string }
  | undefined;

const slot: fc.Arbitrary<Slot> = fc.oneof(
  fc.constant(undefined),
  fc.record({
    keyword: fc.constantFrom('slot' as const, 'slotListIndex' as const),
    number: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  }),
  fc.record({
    keyword: fc.constant('tokenLabel' as const),
    label: lineText.filter((text) => text !== '' && !text.startsWith('"')),
  }),
);

const providerFile = fc
  .record({
    library: keywordLine('library', absolutePath, spacedPath),
    name: fc.option(keywordLine('name', unquotedValue, quotedValue), { nil: undefined }),
    description: fc.option(keywordLine('description', unquotedValue, quotedValue), {
      nil: undefined,
    }),
    slot,
    javaOnly: fc.subarray(JAVA_ONLY_KEYWORDS),
    comments: fc.array(
      fc.string({ unit: 'binary', maxLength: 20 }).map((text) => `#${text.replace(/[\r\n]/g, '')}`),
      { maxLength: 3 },
    ),
    blankLines: fc.nat({ max: 3 }),
    newline: fc.constantFrom('\n', '\r\n'),
  })
  .chain((file) => {
    const lines = [file.library.text, ...file.comments, ...Array<string>(file.blankLines).fill('')];
    if (file.name !== undefined) lines.push(file.name.text);
    if (file.description !== undefined) lines.push(file.description.text);
    if (file.slot?.keyword === 'tokenLabel') lines.push(`tokenLabel = ${file.slot.label}`);
    else if (file.slot !== undefined) lines.push(`${file.slot.keyword} = ${file.slot.number}`);
    for (const keyword of file.javaOnly) lines.push(`${keyword} = true`);

    return fc
      .shuffledSubarray(lines, { minLength: lines.length })
      .map((order) => ({ ...file, text: order.join(file.newline) }));
  });

describe('parseProviderFile on generated files', () => {
  it('reads the values written', () => {
    fc.assert(
      fc.property(providerFile, (file) => {
        const parsed = parseProviderFile(file.text, '/etc/strongroom/pkcs11.cfg');

        expect(parsed.library).toBe(file.library.value);
        expect(parsed.name).toBe(file.name?.value ?? 'PKCS11');
        expect(parsed.description).toBe(file.description?.value ?? '');
        expect(new Set(parsed.ignored)).toEqual(new Set(file.javaOnly));
        const written = file.slot;
        if (written === undefined) {
          expect(parsed.slot).toEqual({ by: 'index', index: 0 });
        } else if ('label' in written) {
          expect(parsed.slot).toEqual({ by: 'tokenLabel', label: written.label });
        } else if (written.keyword === 'slot') {
          expect(parsed.slot).toEqual({ by: 'id', id: written.number });
        } else {
          expect(parsed.slot).toEqual({ by: 'index', index: written.number });
        }
      }),
      { numRuns: 300 },
    );
  });
});
