import { BlockList, isIPv4, isIPv6 } from 'node:net';

import { StrongroomError } from '../errors.js';

/** Maximum number of CIDR blocks in the allow-list of one API token. */
export const MAX_ALLOWED_NETWORKS = 50;

/** An IPv4 address that a dual-stack socket reports as IPv6, such as `::ffff:192.0.2.7`. */
const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/**
 * Checks and returns an allow-list of CIDR blocks (RFC 4632 for IPv4, RFC 4291 section 2.3 for
 * IPv6). A bare address counts as a single host. Throws SR_VALIDATION_FAILED naming the first
 * invalid entry and what a valid one looks like.
 */
export function parseAllowedNetworks(entries: readonly string[]): string[] {
  if (entries.length === 0) {
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      'The allow-list of the API token is empty. Name at least one CIDR block, such as 10.0.0.0/8 or 2001:db8::/32; 0.0.0.0/0 and ::/0 allow every address.',
      { details: { field: 'body.allowedNetworks' } },
    );
  }

  return entries.map((entry) => {
    const network = entry.trim();
    if (parseNetwork(network) === undefined) {
      throw new StrongroomError(
        'SR_VALIDATION_FAILED',
        `The allowed network '${network}' is not an IPv4 or IPv6 CIDR block. Write it as ADDRESS/PREFIX, such as 192.0.2.0/24 or 2001:db8::/48, or as a single address.`,
        { details: { field: 'body.allowedNetworks', network } },
      );
    }
    return network;
  });
}

/** Builds a node:net BlockList that contains every block of a checked allow-list. */
export function buildAllowList(networks: readonly string[]): BlockList {
  const list = new BlockList();
  for (const network of networks) {
    const parsed = parseNetwork(network);
    if (parsed !== undefined) {
      list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }
  return list;
}

/** Tells whether a client address lies in the allow-list. IPv4-mapped IPv6 is checked as IPv4. */
export function isAddressAllowed(list: BlockList, clientAddress: string): boolean {
  const mapped = IPV4_MAPPED.exec(clientAddress)?.[1];
  const address = mapped ?? clientAddress;
  if (isIPv4(address)) {
    return list.check(address, 'ipv4');
  }
  if (isIPv6(address)) {
    return list.check(address, 'ipv6');
  }
  return false;
}

function parseNetwork(
  network: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = network.split('/');
  if (extra !== undefined) {
    return undefined;
  }

  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) {
    return undefined;
  }

  const maxPrefix = family === 'ipv4' ? 32 : 128;
  if (prefixText === undefined) {
    return { address, prefix: maxPrefix, family };
  }
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
    return undefined;
  }
  return { address, prefix: Number(prefixText), family };
}
