import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { StrongroomError } from '../errors.js';
import type { PropertiesFile } from './properties.js';
import { parseProviderFile, type ProviderFile, type SlotSelector } from './provider-file.js';

export const FAILOVER_PATHS_KEY = 'strongroom.hsm.failover.configPaths';
export const RETRY_PRIMARY_KEY = 'strongroom.hsm.failover.retryPrimarySeconds';

/** Seconds between attempts to return to the primary member, unless RETRY_PRIMARY_KEY sets another. */
export const DEFAULT_RETRY_PRIMARY_SECONDS = 60;
const MAX_RETRY_PRIMARY_SECONDS = 86_400;

/**
 * The HSM failover group after the primary member (hsm.provider.configPath): further PKCS#11
 * provider files in the order they are tried, and how often the primary is tried again while
 * another member serves.
 */
export interface HsmFailoverConfig {
  standbys: ProviderFile[];
  retryPrimarySeconds: number;
}

/**
 * Reads strongroom.hsm.failover.configPaths (a comma-separated list of provider files, relative to
 * the security folder unless absolute) and strongroom.hsm.failover.retryPrimarySeconds. Returns
 * undefined when no standby is configured. Each member must select a different slot, because two
 * members on one slot would fail together.
 */
export async function readFailoverConfig(
  security: PropertiesFile,
  securityDir: string,
  primary: ProviderFile | undefined,
): Promise<HsmFailoverConfig | undefined> {
  const retryPrimarySeconds = readRetrySeconds(security);
  const listed = security.get(FAILOVER_PATHS_KEY);
  if (listed === undefined || listed.value.trim() === '') {
    return undefined;
  }
  const where = `${security.path}:${listed.line}`;
  if (primary === undefined) {
    throw new StrongroomError(
      'SR_CONFIG_KEY_MISSING',
      `${where}: ${FAILOVER_PATHS_KEY} lists standby members, but hsm.provider.configPath is not set. Set hsm.provider.configPath to the provider file of the primary member.`,
    );
  }

  const paths = listed.value.split(',').map((entry) => entry.trim());
  if (paths.some((path) => path === '')) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${where}: ${FAILOVER_PATHS_KEY} is '${listed.value.trim()}', which has an empty entry. List provider file paths separated by single commas, for example 'hsm/standby.conf, hsm/standby-2.conf'.`,
    );
  }

  const standbys: ProviderFile[] = [];
  for (const path of paths) {
    const file = await readMemberFile(isAbsolute(path) ? path : resolve(securityDir, path), where);
    const twin = [primary, ...standbys].find((member) => sameSlot(member, file));
    if (twin !== undefined) {
      throw new StrongroomError(
        'SR_CONFIG_VALUE_INVALID',
        `${where}: ${FAILOVER_PATHS_KEY} names ${file.path}, which selects ${describeSelector(file.slot)} of ${file.library}, as ${twin.path} does. Each member must select a slot of its own; point the file at another slot or remove it from the list.`,
      );
    }
    standbys.push(file);
  }
  return { standbys, retryPrimarySeconds };
}

/** Describes a slot selector as an administrator writes it: `slot ID 5`, `slot index 0`, `token 'pam'`. */
export function describeSelector(slot: SlotSelector): string {
  switch (slot.by) {
    case 'id':
      return `slot ID ${slot.id}`;
    case 'index':
      return `slot index ${slot.index}`;
    case 'tokenLabel':
      return `token '${slot.label}'`;
  }
}

async function readMemberFile(path: string, where: string): Promise<ProviderFile> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new StrongroomError(
      'SR_CONFIG_FILE_MISSING',
      `PKCS#11 provider file ${path} (${FAILOVER_PATHS_KEY} in ${where}) cannot be read: ${error.code ?? error.message}. Create it, or remove it from the list.`,
    );
  });
  return parseProviderFile(text, path);
}

function sameSlot(first: ProviderFile, second: ProviderFile): boolean {
  if (resolve(first.path) === resolve(second.path)) {
    return true;
  }
  return (
    resolve(first.library) === resolve(second.library) &&
    describeSelector(first.slot) === describeSelector(second.slot)
  );
}

function readRetrySeconds(security: PropertiesFile): number {
  const entry = security.get(RETRY_PRIMARY_KEY);
  const value = entry?.value.trim();
  if (value === undefined || value === '') {
    return DEFAULT_RETRY_PRIMARY_SECONDS;
  }
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 1 || seconds > MAX_RETRY_PRIMARY_SECONDS) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `${security.path}:${entry?.line ?? 0}: ${RETRY_PRIMARY_KEY} is '${value}'; expected an integer from 1 to ${MAX_RETRY_PRIMARY_SECONDS} (seconds between attempts to return to the primary HSM member).`,
    );
  }
  return seconds;
}
