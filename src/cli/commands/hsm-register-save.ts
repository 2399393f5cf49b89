import { readFile } from 'node:fs/promises';

import type { HsmConfig, StrongroomConfig } from '../../config/load.js';
import { setProperty, writeFileAtomic } from '../../config/properties-editor.js';
import { sealPin } from '../../keys/pin-seal.js';
import { createCliLogger } from '../logger.js';
import { openCliAudit } from '../cli-audit.js';

/** Changes of one registration to security.properties. */
export interface Registration {
  alias: string;
  pin: string | undefined;
}

const ALIAS_PROPERTY = 'hsm.keystore.alias';
/** Both password keys get the sealed PIN, as the integration guide's registration tool does. */
const PIN_PROPERTIES = ['hsm.keystore.load.password', 'hsm.keystore.entry.password'];

/**
 * Writes the alias and the sealed PIN to security.properties atomically and records a
 * 'config.change' audit event with the names of the changed properties and the aliases, never the
 * PIN or its sealed form. When the event cannot be written, the previous file is restored and the
 * SR_AUDIT_WRITE_FAILED error is raised, so no change stays unaudited. Without a database yet, the
 * file is written and openCliAudit prints a warning.
 */
export async function saveRegistration(
  config: StrongroomConfig,
  hsm: HsmConfig,
  change: Registration,
): Promise<void> {
  const path = config.layout.securityProperties;
  const properties =
    change.pin === undefined ? [ALIAS_PROPERTY] : [ALIAS_PROPERTY, ...PIN_PROPERTIES];
  const logger = createCliLogger();
  const audit = await openCliAudit(
    config,
    logger,
    `The change of ${properties.join(', ')} in ${path}`,
  );
  try {
    const previous = await readFile(path, 'utf8');
    let text = setProperty(previous, ALIAS_PROPERTY, change.alias);
    if (change.pin !== undefined) {
      const sealed = await sealPin(change.pin, { sealKeyPath: hsm.sealKeyFile });
      for (const property of PIN_PROPERTIES) {
        text = setProperty(text, property, sealed);
      }
    }
    await writeFileAtomic(path, text);

    try {
      await audit?.record({
        action: 'config.change',
        objectType: 'config_file',
        objectId: path,
        outcome: 'success',
        reason: 'strongroom hsm register',
        details: {
          properties: properties.join(','),
          previousAlias: hsm.keyLabel,
          alias: change.alias,
          pinChanged: change.pin !== undefined,
        },
      });
    } catch (error) {
      await writeFileAtomic(path, previous);
      throw error;
    }
  } finally {
    await audit?.close();
  }
}
