import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrongroomError } from '../../src/errors.js';
import {
  BatchProcesses,
  type BatchProcessSettings,
} from '../../src/keys/hsm/batch-process/batch-processes.js';
import type { ChunkItems } from '../../src/keys/hsm/chunk-items.js';
import { hsmLogFromPino } from '../../src/keys/hsm/hsm-log.js';
import { createHsmProvider } from '../../src/keys/hsm/index.js';
import type { MasterKeyProvider } from '../../src/keys/types.js';
import { batchProcessesOf, waitForExit } from '../support/batch-processes.js';
import { buildSlowModule, compilerAvailable } from '../support/slow-module.js';
import {
  createMemoryLogger,
  createSoftHsmFixture,
  softHsmAvailable,
  type SoftHsmFixture,
} from '../support/softhsm.js';

const KEY_LABEL = 'pam-master-key';

describe.skipIf(!softHsmAvailable() || !compilerAvailable())(
  'HSM batch processes on SoftHSM',
  () => {
    let fixture: SoftHsmFixture;

    beforeAll(async () => {
      fixture = await createSoftHsmFixture();
      await fixture.generateKey(KEY_LABEL);
    });

    afterAll(async () => {
      await fixture?.cleanup();
    });

    function openProvider(logger = pino({ level: 'silent' })): MasterKeyProvider {
      return createHsmProvider({
        library: fixture.library,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: KEY_LABEL,
        pin: fixture.userPin,
        poolSize: 2,
        batchProcesses: 2,
        logger,
      });
    }

    /** Returns the settings of batch processes that open the test key through `library`. */
    function processSettings(kcv: string, library = fixture.library): BatchProcessSettings {
      return {
        library,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: KEY_LABEL,
        pin: fixture.userPin,
        keyWrap: 'token',
        kcv,
      };
    }

    function packed(values: Buffer[]): { bytes: Buffer; lengths: number[] } {
      return { bytes: Buffer.concat(values), lengths: values.map((value) => value.length) };
    }

    function wrapItems(items: Array<{ dek: Buffer; aad: Buffer }>): ChunkItems {
      return {
        kind: 'wrap',
        deks: Buffer.concat(items.map((item) => item.dek)),
        aads: packed(items.map((item) => item.aad)),
        reopen: false,
      };
    }

    /** Returns the check value of the master key, as a provider on the plain SoftHSM module opens it. */
    async function readCheckValue(): Promise<string> {
      const provider = openProvider();
      await provider.open();
      try {
        return provider.ref().kcv;
      } finally {
        await provider.close();
      }
    }

    function requests(count: number): Array<{ dek: Buffer; aad: Buffer }> {
      return Array.from({ length: count }, (_, index) => ({
        dek: randomBytes(32),
        aad: Buffer.from(`dek:${index}`),
      }));
    }

    it('open starts and close stops processes', async () => {
      const provider = openProvider();
      await provider.open();
      const started = batchProcessesOf(process.pid);

      await provider.close();

      expect(started).toHaveLength(2);
      await waitForExit(started);
    });

    it('killed process fails its chunk', async () => {
      const memory = createMemoryLogger();
      const provider = openProvider(memory.logger);
      await provider.open();
      try {
        const items = requests(4000);
        const [victim] = batchProcessesOf(process.pid);

        const running = provider.wrapMany(items);
        // Each process needs far longer than this for its 2,000 items.
        await new Promise((resolve) => setTimeout(resolve, 30));
        process.kill(victim as number, 'SIGKILL');
        const during = await running;
        const after = await provider.wrapMany(items.slice(0, 100));

        const failed = during.filter((result) => !result.ok);
        expect(failed.length).toBeGreaterThan(0);
        for (const result of failed) {
          expect(
            isStrongroomError(result.ok ? undefined : result.error, 'SR_HSM_UNAVAILABLE'),
          ).toBe(true);
        }
        expect(after.every((result) => result.ok)).toBe(true);
        expect(memory.output()).toContain('a PKCS#11 batch process was ended by SIGKILL');
        expect(batchProcessesOf(process.pid)).toHaveLength(2);
      } finally {
        await provider.close();
      }
    });

    it('processes exit with their parent', async () => {
      const index = JSON.stringify(join(process.cwd(), 'dist/keys/hsm/index.js'));
      const packageFile = JSON.stringify(join(process.cwd(), 'package.json'));
      const script = [
        `import { createRequire } from 'node:module';`,
        `import { createHsmProvider } from ${index};`,
        `const pino = createRequire(${packageFile})('pino');`,
        `const settings = JSON.parse(process.argv[2]);`,
        `const provider = createHsmProvider({ ...settings, logger: pino({ level: 'silent' }) });`,
        `await provider.open();`,
        `console.log('open');`,
        `setInterval(() => undefined, 1000);`,
      ].join('\n');
      const settings = {
        library: fixture.library,
        slot: { by: 'tokenLabel', label: fixture.tokenLabel },
        keyLabel: KEY_LABEL,
        pin: fixture.userPin,
        batchProcesses: 2,
      };
      // A file, not --eval: the provider's worker thread would inherit --input-type and fail.
      const directory = await mkdtemp(join(tmpdir(), 'strongroom-batch-opener-'));
      const scriptFile = join(directory, 'open-provider.mjs');
      await writeFile(scriptFile, script);
      const opener = spawn(process.execPath, [scriptFile, JSON.stringify(settings)], {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: process.cwd(),
        env: process.env,
      });
      try {
        await Promise.race([
          once(opener.stdout, 'data'),
          once(opener, 'exit').then(([code]) => {
            throw new Error(`the process that opens the provider exited with code ${String(code)}`);
          }),
        ]);
        const started = batchProcessesOf(opener.pid as number);
        opener.kill('SIGKILL');
        await once(opener, 'exit');

        expect(started).toHaveLength(2);
        await waitForExit(started);
      } finally {
        opener.kill('SIGKILL');
        await rm(directory, { recursive: true, force: true });
      }
    });

    it('many processes start on SoftHSM', async () => {
      const kcv = await readCheckValue();
      // SoftHSM 2.6 reported no token to some of 8 or more processes that opened at once.
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const processes = new BatchProcesses(
          processSettings(kcv),
          24,
          hsmLogFromPino(pino({ level: 'silent' })),
        );
        try {
          await processes.start();
          expect(batchProcessesOf(process.pid)).toHaveLength(24);
        } finally {
          await processes.close();
        }
      }
    });

    it('unwraps run before waiting wraps', async () => {
      const provider = openProvider();
      await provider.open();
      const processes = new BatchProcesses(
        processSettings(provider.ref().kcv),
        1,
        hsmLogFromPino(pino({ level: 'silent' })),
      );
      try {
        await processes.start();
        const opened = requests(4);
        const sealed = await provider.wrapMany(opened);
        const wraps = [requests(1000), requests(1000)];
        const order: string[] = [];

        const runs = [
          ...wraps.map((items, index) =>
            processes.run(wrapItems(items)).then(() => order.push(`wrap ${index}`)),
          ),
          processes
            .run({
              kind: 'unwrap',
              mechanisms: sealed.map((result) =>
                result.ok ? result.value.mechanism : 'aes-256-gcm',
              ),
              wrapped: packed(
                sealed.map((result) => (result.ok ? result.value.wrapped : Buffer.alloc(0))),
              ),
              aads: packed(opened.map((item) => item.aad)),
            })
            .then(() => order.push('unwrap')),
        ];
        await Promise.all(runs);

        // The unwrap was sent last, but ran before the second wrap, which was still waiting.
        expect(order.indexOf('unwrap')).toBeLessThan(order.indexOf('wrap 1'));
      } finally {
        await processes.close();
        await provider.close();
      }
    });

    it('stalled process is killed', async () => {
      // The slow module sleeps before each C_Encrypt, as an HSM that stops responding would.
      const library = buildSlowModule(fixture.directory);
      const kcv = await readCheckValue();
      process.env['SLOW_PKCS11_TARGET'] = fixture.library;
      process.env['SLOW_PKCS11_DELAY_MS'] = '1000';
      const memory = createMemoryLogger();
      const processes = new BatchProcesses(
        processSettings(kcv, library),
        1,
        hsmLogFromPino(memory.logger),
        // Far above the start, which makes at most one slow call, and far below the 6 s of the chunk.
        2_500,
      );
      try {
        await processes.start();
        const [stalled] = batchProcessesOf(process.pid);
        const items = requests(6);

        const error = await processes.run(wrapItems(items)).catch((caught: unknown) => caught);

        expect(isStrongroomError(error, 'SR_HSM_UNAVAILABLE')).toBe(true);
        expect((error as Error).message).toContain('replied to no chunk for 2.5 s and was killed');
        expect(memory.output()).toContain(
          'a PKCS#11 batch process made no progress, so it is killed',
        );
        await waitForExit([stalled as number]);
      } finally {
        delete process.env['SLOW_PKCS11_TARGET'];
        delete process.env['SLOW_PKCS11_DELAY_MS'];
        await processes.close();
      }
    });

    it('process rejects another key', async () => {
      const processes = new BatchProcesses(
        processSettings('000000'),
        1,
        hsmLogFromPino(pino({ level: 'silent' })),
      );

      const error = await processes.start().catch((caught: unknown) => caught);

      expect(isStrongroomError(error, 'SR_KEY_PROVIDER_MISMATCH')).toBe(true);
      expect((error as Error).message).toContain('but the provider opened 000000');
    });
  },
);
