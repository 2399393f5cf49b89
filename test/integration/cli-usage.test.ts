import { describe, expect, it } from 'vitest';

import { runCli } from '../support/cli.js';

describe('command line errors', () => {
  it.each([
    [['dek', 'migrate'], "required option '--to <provider>' not specified"],
    [['dek', 'status', '--bogus'], "unknown option '--bogus'"],
    [['nosuch'], "unknown command 'nosuch'"],
  ])('%j carries the usage code', async (argv, message) => {
    const result = await runCli(argv);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`strongroom: SR_CLI_USAGE_INVALID: ${message}\n`);
  });
});
