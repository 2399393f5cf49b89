import { readFile } from 'node:fs/promises';

import { confirm } from '@inquirer/prompts';

import type { AuditLog } from '../../audit/types.js';
import type { StrongroomConfig } from '../../config/load.js';
import { parseProperties } from '../../config/properties.js';
import { setProperty, writeFileAtomic } from '../../config/properties-editor.js';
import { cliActor } from '../cli-audit.js';

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
