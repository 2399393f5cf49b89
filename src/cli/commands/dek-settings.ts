import { readFile } from 'node:fs/promises';

import { confirm } from '@inquirer/prompts';

import type { AuditLog } from '../../audit/types.js';
import type { StrongroomConfig } from '../../config/load.js';
import { parseProperties } from '../../config/properties.js';
import { setProperty, writeFileAtomic } from '../../config/properties-editor.js';
import { StrongroomError } from '../../errors.js';
import { sameKey } from '../../keys/key-ref.js';
import type { MasterKeyRef } from '../../keys/types.js';
import type { DekCount } from '../../store/index.js';
import { cliActor } from '../cli-audit.js';
import { formatCounts, totalDeks } from './dek-report.js';

/** The audit log of the run and the reason to record with the settings change. */
export interface SettingsAudit {
  audit: AuditLog;
  reason: string;
}

/**
 * Writes `settings` into security.properties with --set-provider, or after asking on a terminal.
 * Otherwise prints the lines to set by hand. A write is recorded as a 'config.change' audit event
 * with the property names and values, which name a provider, a key label or a key file path and
 * are not secret. When the event cannot be written, the previous file is restored and the
 * SR_AUDIT_WRITE_FAILED error is raised.
 */
export async function offerSettings(
  config: StrongroomConfig,
  settings: Record<string, string>,
  flags: { yes?: boolean; setProvider?: boolean },
  audited: SettingsAudit,
): Promise<void> {
  const path = config.layout.securityProperties;
  const text = await readFile(path, 'utf8');
  const properties = parseProperties(text, path);
  const changes = Object.entries(settings).filter(
    ([key, value]) => properties.get(key)?.value.trim() !== value,
  );
  if (changes.length === 0) {
    return;
  }

  const lines = changes.map(([key, value]) => `${key} = ${value}`).join(', ');
  const set =
    flags.setProvider === true ||
    (flags.yes !== true &&
      process.stdin.isTTY &&
      (await confirm({ message: `Set ${lines} in ${path}?`, default: true })));
  if (!set) {
    process.stderr.write(
      `Set ${lines} in ${path} and restart the service to use the target key.\n`,
    );
    return;
  }

  let updated = text;
  for (const [key, value] of changes) {
    updated = setProperty(updated, key, value);
  }
  await writeFileAtomic(path, updated);
  try {
    await audited.audit.record({
      actor: cliActor(),
      action: 'config.change',
      objectType: 'config_file',
      objectId: path,
      outcome: 'success',
      reason: audited.reason,
      clientAddress: 'cli',
      details: {
        properties: changes.map(([key]) => key).join(','),
        ...Object.fromEntries(changes),
      },
    });
  } catch (error) {
    await writeFileAtomic(path, text);
    throw error;
  }
  process.stderr.write(`Set ${lines} in ${path}. Restart the service to use it.\n`);
}

/**
 * Returns the DEK counts under keys other than the run's source and target. The settings that
 * point the service at the target may drop such a key from security.properties, because a renewal
 * replaces strongroom.keyFile or hsm.keystore.alias, and the service then cannot open those DEKs.
 */
export function countsUnderOtherKeys(
  counts: DekCount[],
  keys: { source: MasterKeyRef; target: MasterKeyRef },
): DekCount[] {
  return counts.filter(
    (entry) => !sameKey(entry.ref, keys.source) && !sameKey(entry.ref, keys.target),
  );
}

/**
 * Leaves security.properties unchanged because DEKs remain under `others`. Throws
 * SR_DEK_MIGRATION_KEYS_REMAIN when --set-provider requested the change, and otherwise prints the
 * same explanation.
 */
export function keepSettings(
  others: DekCount[],
  settings: Record<string, string>,
  flags: { setProvider?: boolean },
): void {
  const total = totalDeks(others);
  const lines = Object.entries(settings)
    .map(([key, value]) => `${key} = ${value}`)
    .join(', ');
  const message =
    `${total} DEKs are under master keys other than the source and the target:\n${formatCounts(others)}` +
    `security.properties was left unchanged, because ${lines} could stop the service from opening them. ` +
    `Move those DEKs to the target first, with 'strongroom dek renew --from-key-file FILE' or '--from-hsm-key-label LABEL' and the target's --key-file or --hsm-key-label. Then set ${lines} by hand.`;
  if (flags.setProvider === true) {
    throw new StrongroomError('SR_DEK_MIGRATION_KEYS_REMAIN', message, {
      details: { dekCount: total, keys: others.length },
    });
  }
  process.stderr.write(`${message}\n`);
}
