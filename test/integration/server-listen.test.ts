import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

import type { FastifyInstance } from 'fastify';
import type { Keyring } from '../../src/keys/keyring.js';
import pino, { type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/log.js';
import { StrongroomError } from '../../src/errors.js';
import { assertListenAllowed, isLoopbackHost, listen } from '../../src/server/listen.js';
import { buildServer, type ServerOptions } from '../../src/server/server.js';
import { readTlsFiles } from '../../src/server/tls.js';
import type { Store } from '../../src/store/repositories.js';
import type { HealthService, VaultService } from '../../src/vault/types.js';
import { describeEachDialect } from '../support/databases.js';

const execFileAsync = promisify(execFile);

// Listening does not use the vault, and this stand-in returns the /health report.
const vault = {} as VaultService;
const health: HealthService = {
  check: async () => ({
    healthy: true,
    activeProvider: 'file',
    providers: [],
    database: { dialect: 'sqlite', reachable: true },
  }),
};

function thrownBy(run: () => unknown): StrongroomError {
  try {
    run();
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected a StrongroomError');
}

/** Sends GET over HTTPS trusting only `ca`, and returns the status code. */
function getStatusOverTls(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('loopback check', () => {
  const loopback = [
    '127.0.0.1',
    '127.1.2.3',
    'localhost',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ];
  const other = [
    '0.0.0.0',
    '::',
    '192.0.2.10',
    '10.0.0.1',
    '::ffff:192.0.2.10',
    'example.org',
    'localhost.example.org',
    '',
  ];

  for (const host of loopback) {
    it(`treats ${host} as loopback`, () => {
      expect(isLoopbackHost(host)).toBe(true);
    });
  }

  for (const host of other) {
    it(`treats ${JSON.stringify(host)} as not loopback`, () => {
      expect(isLoopbackHost(host)).toBe(false);
    });
  }

  it('names the address and both fixes', () => {
    const error = thrownBy(() => assertListenAllowed('0.0.0.0', false));

    expect(error.code).toBe('SR_CONFIG_LISTEN_NOT_LOOPBACK');
    expect(error.message).toContain('0.0.0.0');
    expect(error.message).toContain('a loopback address such as 127.0.0.1');
    expect(error.message).toContain('server.tls.certFile and server.tls.keyFile');
  });

  it('allows any address with TLS', () => {
    expect(() => assertListenAllowed('0.0.0.0', true)).not.toThrow();
  });
});

describeEachDialect('listen', (database) => {
  let store: Store;
  let logs: string[];
  let logger: Logger;
  let app: FastifyInstance | undefined;

  async function build(options: ServerOptions = {}): Promise<FastifyInstance> {
    app = await buildServer(
      // No test here logs in, so the TOTP keyring is never used.
      {
        store,
        vault,
        health,
        audit: createAuditLog(store, logger),
        logger,
        keyring: {} as Keyring,
      },
      options,
    );
    return app;
  }

  beforeAll(async () => {
    store = await database.openStore();
    logs = [];
    logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          logs.push(chunk.toString('utf8'));
          callback();
        },
      }),
    );
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.org']) {
    it(`rejects plain HTTP on ${host}`, async () => {
      const server = await build();

      const error = await listen(server, { host, port: 0 }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StrongroomError);
      expect((error as StrongroomError).code).toBe('SR_CONFIG_LISTEN_NOT_LOOPBACK');
      expect((error as StrongroomError).message).toContain(host);
      expect(server.server.listening).toBe(false);
    });
  }

  it('serves plain HTTP on loopback', async () => {
    const server = await build();

    const url = await listen(server, { host: '127.0.0.1', port: 0 });
    const response = await fetch(`${url}/health`);

    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(response.status).toBe(200);
    expect(logs.join('')).toContain('service listening');
  });

  it('reports a port in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;

    try {
      const server = await build();
      const error = await listen(server, { host: '127.0.0.1', port }).catch(
        (caught: unknown) => caught,
      );

      expect((error as StrongroomError).code).toBe('SR_CONFIG_VALUE_INVALID');
      expect((error as StrongroomError).message).toContain(`127.0.0.1 port ${port}`);
      expect((error as StrongroomError).message).toContain('EADDRINUSE');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  describe('with TLS', () => {
    let folder: string;
    let certFile: string;
    let keyFile: string;

    beforeAll(async () => {
      folder = await mkdtemp(path.join(tmpdir(), 'strongroom-tls-'));
      certFile = path.join(folder, 'cert.pem');
      keyFile = path.join(folder, 'key.pem');
      await execFileAsync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
    });

    afterAll(async () => {
      await rm(folder, { recursive: true, force: true });
    });

    it('serves HTTPS on loopback', async () => {
      const tls = await readTlsFiles({ certFile, keyFile });
      const server = await build({ tls });

      const url = await listen(server, { host: '127.0.0.1', port: 0 });
      const status = await getStatusOverTls(`${url}/health`, tls.cert as Buffer);

      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(status).toBe(200);
    });

    it('names a missing certificate file', async () => {
      const missing = path.join(folder, 'missing.pem');

      const error = await readTlsFiles({ certFile: missing, keyFile }).catch(
        (caught: unknown) => caught,
      );

      expect((error as StrongroomError).code).toBe('SR_CONFIG_FILE_MISSING');
      expect((error as StrongroomError).message).toContain(missing);
      expect((error as StrongroomError).message).toContain('server.tls.certFile');
    });
  });
});
