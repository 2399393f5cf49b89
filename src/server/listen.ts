import { BlockList, isIP } from 'node:net';

import { Server as TlsServer } from 'node:tls';

import type { FastifyInstance } from 'fastify';

import { StrongroomError } from '../errors.js';

export interface ListenOptions {
  host: string;
  /** TCP port, or 0 to pick a free one. */
  port: number;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Tells whether a listen address reaches only this host: `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') {
    return true;
  }

  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const version = isIP(bare);
  if (version === 0) {
    return false;
  }

  return loopback.check(bare, version === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Throws SR_CONFIG_LISTEN_NOT_LOOPBACK when the service would accept plain HTTP from other hosts,
 * where bearer tokens and revealed secrets would cross the network unencrypted.
 */
export function assertListenAllowed(host: string, tls: boolean): void {
  if (tls || isLoopbackHost(host)) {
    return;
  }

  throw new StrongroomError(
    'SR_CONFIG_LISTEN_NOT_LOOPBACK',
    `The service will not listen on ${host} without TLS, because tokens and secrets would cross the network in clear text. Set server.listen in strongroom.properties to a loopback address such as 127.0.0.1:8080, or set server.tls.certFile and server.tls.keyFile to serve HTTPS.`,
    { details: { host } },
  );
}

/**
 * Starts listening and returns the URL. Checks the address before binding anything: plain HTTP is
 * only served on loopback, so give `buildServer` TLS material to listen on other addresses. Throws
 * SR_CONFIG_VALUE_INVALID when the address cannot be bound, for example because the port is in use.
 */
export async function listen(app: FastifyInstance, options: ListenOptions): Promise<string> {
  assertListenAllowed(options.host, app.server instanceof TlsServer);

  let url: string;
  try {
    url = await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `The service cannot listen on ${options.host} port ${options.port}: ${(error as Error).message}. Free the port or set server.listen to another address.`,
      { cause: error, details: { host: options.host, port: options.port } },
    );
  }

  app.log.info({ url }, 'service listening');
  return url;
}
