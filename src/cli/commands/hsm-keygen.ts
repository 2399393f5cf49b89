import { confirm } from '@inquirer/prompts';
import { StrongroomError } from '../../errors.js';
import { runTokenTool } from '../../keys/hsm/index.js';
import { createCliLogger } from '../logger.js';
import { EXIT, usageError } from '../output.js';
import { generateAudited } from './hsm-keygen-audit.js';
import { readHsmSettings, type HsmFlags } from './hsm.js';

export interface KeygenFlags extends HsmFlags {
  label?: string;
  audit?: boolean;
  yes?: boolean;
}

/** Runs `hsm keygen`: the master key, or with --audit the audit checkpoint key. */
export async function keygen(flags: KeygenFlags): Promise<void> {
  if (flags.audit === true) {
    await keygenAudit(flags);
    return;
  }
  const label = flags.label;
  if (label === undefined) {
    process.stderr.write(
      'strongroom: --label is missing. Give the label of the new master key, or add --audit to generate the audit checkpoint key.\n',
    );
    process.exitCode = EXIT.usage;
    return;
  }
  checkLabel(label);

  const { config, hsm, pin } = await readHsmSettings(flags.home);
  const { providerFile } = hsm;
  if (
    flags.yes !== true &&
    !(await confirmKeygen(`AES-256 key '${label}'`, providerFile.library))
  ) {
    process.exitCode = EXIT.usage;
    return;
  }

  const logger = createCliLogger();
  const key = await generateAudited(
    config,
    logger,
    { purpose: 'master', label },
    () =>
      runTokenTool(
        'keygen',
        {
          library: providerFile.library,
          slot: providerFile.slot,
          pin,
          keyWrap: hsm.keyWrap,
          keyLabel: label,
        },
        logger,
      ),
    (generated) => ({ mechanism: generated.mechanism, kcv: generated.kcv }),
  );

  if (flags.json === true) {
    process.stdout.write(
      `${JSON.stringify({ library: providerFile.library, keyLabel: label, ...key })}\n`,
    );
    return;
  }
  process.stdout.write(
    `Generated AES-256 key '${label}' (ID ${key.id}, check value ${key.kcv}) on the token '${key.tokenLabel}', slot ID ${key.slotId}.\n`,
  );
  if (hsm.keyLabel !== label) {
    process.stdout.write(
      `hsm.keystore.alias is '${hsm.keyLabel}'. Set it to '${label}' in security.properties to use the new key.\n`,
    );
  }
}

/** Generates the audit checkpoint key, labelled --label or strongroom.audit.keyLabel. */
async function keygenAudit(flags: KeygenFlags): Promise<void> {
  const { config, hsm, pin } = await readHsmSettings(flags.home);
  const label = flags.label ?? hsm.auditKeyLabel;
  checkLabel(label);
  if (label === hsm.keyLabel) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `--label '${label}' is the label of the master key. The audit checkpoint key must be a key of its own; choose another label.`,
    );
  }

  const { providerFile } = hsm;
  if (
    flags.yes !== true &&
    !(await confirmKeygen(`audit checkpoint key '${label}'`, providerFile.library))
  ) {
    process.exitCode = EXIT.usage;
    return;
  }
  const logger = createCliLogger();
  const key = await generateAudited(
    config,
    logger,
    { purpose: 'audit-checkpoint', label },
    () =>
      runTokenTool(
        'macKeygen',
        { library: providerFile.library, slot: providerFile.slot, pin, keyLabel: label },
        logger,
      ),
    (generated) => ({ algorithm: generated.algorithm }),
  );

  if (flags.json === true) {
    process.stdout.write(
      `${JSON.stringify({ library: providerFile.library, keyLabel: label, ...key })}\n`,
    );
    return;
  }
  process.stdout.write(
    `Generated audit checkpoint key '${label}' (ID ${key.id}, ${key.algorithm}) on the token '${key.tokenLabel}', slot ID ${key.slotId}.\n`,
  );
  if (hsm.auditKeyLabel === label) {
    return;
  }
  const masterLabel = label.endsWith(AUDIT_SUFFIX) ? label.slice(0, -AUDIT_SUFFIX.length) : '';
  process.stdout.write(
    masterLabel === ''
      ? `strongroom.audit.keyLabel is '${hsm.auditKeyLabel}'. Set it to '${label}' in security.properties to use the new key.\n`
      : `This is the default audit key label of a master key labelled '${masterLabel}', as 'dek renew --hsm-key-label ${masterLabel}' needs it. To use the key with the current master key instead, set strongroom.audit.keyLabel to '${label}' in security.properties.\n`,
  );
}

/** The suffix that the default audit key label adds to the master key label. */
const AUDIT_SUFFIX = '-audit';

function checkLabel(label: string): void {
  if (label === '' || label.trim() !== label) {
    throw new StrongroomError(
      'SR_CONFIG_VALUE_INVALID',
      `--label '${label}' is empty or starts or ends with a blank. Give the label without blanks around it.`,
    );
  }
}

/** Asks for confirmation on a terminal. Without one, --yes is required, because no one can reply. */
async function confirmKeygen(keyDescription: string, library: string): Promise<boolean> {
  if (process.stdin.isTTY !== true) {
    usageError(
      'hsm keygen changes the token and standard input is not a terminal. Add --yes to generate the key.',
      false,
    );
    return false;
  }
  return confirm({
    message: `Generate ${keyDescription} on the token of ${library}?`,
    default: false,
  });
}
