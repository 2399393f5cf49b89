import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../support/cli.js';
import { softHsmAvailable } from '../support/softhsm.js';

const cliPath = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

/** Runs `strongroom quickstart` until its service is healthy, then stops it with SIGTERM. */
async function runQuickstart(home: string, port: number): Promise<string> {
  const child = spawn(
    process.execPath,
    [cliPath, 'quickstart', '--home', home, '--listen', `127.0.0.1:${port}`],
    {
      // The quick start finds its own token and PIN file in the home folder.
      env: {
        ...process.env,
        SOFTHSM2_CONF: undefined,
        STRONGROOM_HSM_PIN: undefined,
        STRONGROOM_HSM_PIN_FILE: undefined,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));

  try {
    for (let attempt = 0; attempt < 600; attempt += 1) {
      if (child.exitCode !== null) {
        throw new Error(`quickstart exited with ${child.exitCode}:\n${output}`);
      }
      const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (healthy) {
        return output;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`quickstart did not become healthy:\n${output}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

describe('quickstart command', () => {
  let root: string;
  let home: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strongroom-quickstart-'));
    home = join(root, 'home');
    await runQuickstart(home, await freePort());
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('records the generated keys', () => {
    const database = new Database(join(home, 'data', 'strongroom.db'), { readonly: true });
    const events = database
      .prepare(
        `select seq, actor, object_type, object_id, details from audit_events where action = 'key.generate' order by seq`,
      )
      .all() as Array<{ seq: number; actor: string; object_type: string; details: string }>;
    const firstSeq = (
      database.prepare('select min(seq) as seq from audit_events').get() as { seq: number }
    ).seq;
    database.close();

    expect(events[0]?.seq).toBe(firstSeq);
    const purposes = events.map((event) => JSON.parse(event.details).purpose as string);
    if (softHsmAvailable()) {
      expect(events.map((event) => event.object_type)).toEqual(['hsm_key', 'hsm_key']);
      expect(purposes).toEqual(['master', 'audit-checkpoint']);
    } else {
      expect(events[0]?.object_type).toBe('key_file');
      expect(purposes).toEqual(['master']);
    }
    for (const event of events) {
      expect(event.actor).toBe('quickstart');
      expect(event.details).not.toMatch(/pin/i);
    }
  });
});
