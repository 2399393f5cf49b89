import { readFile, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorRegistry, StrongroomError } from '../../src/errors.js';

const docsPath = join(import.meta.dirname, '..', '..', 'docs', 'errors.md');

function renderErrorDocs(): string {
  const rows = Object.entries(errorRegistry).map(
    ([code, entry]) => `| \`${code}\` | ${entry.status} | ${entry.summary} |`,
  );
  return [
    '# Error codes',
    '',
    'Every error that Strongroom reports carries one of these codes. Commands print it before the',
    'message (`strongroom: SR_HSM_KEY_AMBIGUOUS: ...`) and the REST API returns it as',
    '`{ "error": { "code", "message" } }` with the HTTP status below. Codes are stable: they are',
    'never renamed or reused. The message names the value at fault and the fix.',
    '',
    'This page is checked against the registry in `src/errors.ts` by `test/unit/error-registry.test.ts`;',
    'after adding a code, run `UPDATE_DOCS=1 npx vitest run test/unit/error-registry.test.ts`.',
    '',
    '| code | HTTP status | condition |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error registry', () => {
  it('matches docs/errors.md', async () => {
    const expected = renderErrorDocs();
    if (process.env['UPDATE_DOCS'] === '1') {
      await writeFile(docsPath, expected);
    }
    expect(await readFile(docsPath, 'utf8')).toBe(expected);
  });

  it('gives every code the SR_ prefix and an HTTP status', () => {
    for (const [code, entry] of Object.entries(errorRegistry)) {
      expect(code).toMatch(/^SR_[A-Z0-9_]+$/);
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.summary).toMatch(/\.$/);
    }
  });

  it('has no code that the sources never raise', () => {
    const sources = sourceFiles(join(import.meta.dirname, '..', '..', 'src'))
      .filter((path) => path !== join(import.meta.dirname, '..', '..', 'src', 'errors.ts'))
      .map((path) => readFileSync(path, 'utf8'))
      .join('\n');
    const unused = Object.keys(errorRegistry).filter((code) => !sources.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('carries code, status and details', () => {
    const error = new StrongroomError('SR_HSM_KEY_AMBIGUOUS', "2 secret keys are labelled 'k'", {
      details: { count: 2 },
    });
    expect(error.code).toBe('SR_HSM_KEY_AMBIGUOUS');
    expect(error.status).toBe(503);
    expect(error.details).toEqual({ count: 2 });
    expect(error.message).toBe("2 secret keys are labelled 'k'");
  });
});
