import { isIP } from 'node:net';
import { StrongroomError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses server.listen: `host:port`, with IPv6 hosts in brackets (`[::1]:8443`). */
export function parseListenAddress(value: string, path: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (match !== null && host !== undefined && !(port >= 0 && port <= 65535)) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${path}: server.listen port ${match[3] ?? ''} is out of range; use a port from 0 to 65535.`,
    );
  }
  if (match === null || host === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${path}: server.listen is '${value}'; expected host:port, for example 127.0.0.1:8443 or [::1]:8443.`,
    );
  }
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${path}: server.listen host '${host}' in brackets is not an IPv6 address.`,
    );
  }
  return { host, port };
}

/** Tells whether a host name or address is on the loopback interface only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
