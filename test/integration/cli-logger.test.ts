import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { startOnTerminal } from '../support/terminal.js';

const LOGGER = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'logger.js');

/** A script that logs one warning with a field and a PIN through the command logger. */
const SCRIPT = [
  `import { createCliLogger } from ${JSON.stringify(LOGGER)};`,
  `createCliLogger().warn({ holder: { pid: 4242 }, pin: '987654' }, 'breaking the lock');`,
].join('\n');

describe('command logger', () => {
  it('prints a line on a terminal', async () => {
    const terminal = startOnTerminal([process.execPath, '--input-type=module', '-e', SCRIPT], {});
    try {
      expect(await terminal.exited).toBe(0);
      const output = terminal.output();

      expect(output).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: breaking the lock /m);
      expect(output).toContain('"holder":{"pid":4242}');
      expect(output).toContain('"pin":"[redacted]"');
      expect(output).not.toContain('987654');
      expect(output).not.toContain('"level"');
    } finally {
      terminal.kill();
    }
  });

  it('prints JSON without a terminal', () => {
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      encoding: 'utf8',
    });
    const record = JSON.parse(result.stderr.trim()) as Record<string, unknown>;

    expect(result.status).toBe(0);
    expect(record['level']).toBe(40);
    expect(record['msg']).toBe('breaking the lock');
    expect(record['pin']).toBe('[redacted]');
  });
});
