import { rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import type { StrongroomConfig } from '../../config/load.js';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import { createKeyFile } from '../../keys/file/key-file.js';
import type { RenewTarget } from '../../rotation/index.js';
import { renewedAuditKeyLabel, type CheckpointKeySource } from './dek-rollover.js';

/** The flags of `dek renew` that name its keys. */
export interface RenewKeyFlags {
  hsmKeyLabel?: string;
  keyFile?: string;
  fromKeyFile?: string;
  fromHsmKeyLabel?: string;
}

/**
 * Returns the key that --from-key-file or --from-hsm-key-label names, with its audit checkpoint
 * key, or undefined when the renewal moves the DEKs of the key in use.
 */
export function renewalSource(
  config: StrongroomConfig,
  flags: RenewKeyFlags,
): { key: RenewTarget; checkpointKey: CheckpointKeySource } | undefined {
  if (flags.fromKeyFile !== undefined) {
    const keyFile = resolve(flags.fromKeyFile);
    return { key: { kind: 'file', keyFile }, checkpointKey: { kind: 'file', keyFile } };
  }
  if (flags.fromHsmKeyLabel !== undefined) {
    return {
      key: { kind: 'hsm', keyLabel: flags.fromHsmKeyLabel },
      checkpointKey: { kind: 'hsm', keyLabel: renewedAuditKeyLabel(config, flags.fromHsmKeyLabel) },
    };
  }
  return undefined;
}

/** A key file that a renewal creates once the source key has opened. */
export interface NewKeyFile {
  create(): Promise<void>;
  /** Removes the file again if this command created it, for a run that never used the key. */
  discard(): Promise<void>;
}

export function createNewKeyFile(path: string): NewKeyFile {
  let created = false;
  return {
    create: async () => {
      await createKeyFile(path);
      created = true;
      process.stderr.write(
        `Created the new master key file ${path}. Back it up; pass --key-file ${path} to resume an interrupted renewal.\n`,
      );
    },
    discard: async () => {
      if (!created) {
        return;
      }
      created = false;
      await rm(path, { force: true });
      process.stderr.write(
        `Removed the new master key file ${path}, because no DEK was wrapped under it.\n`,
      );
    },
  };
}

/**
 * Returns the path of a new key file beside the configured one, named by the current time. Throws
 * SR_KEYFILE_INVALID when strongroom.keyFile names something other than a file, such as a
 * directory.
 */
export async function defaultNewKeyFile(configured: string): Promise<string> {
  const info = await stat(configured).catch(() => undefined);
  if (info !== undefined && !info.isFile()) {
    throw new StrongroomError(
      'SR_KEYFILE_INVALID',
      `strongroom.keyFile ${configured} is not a regular file, and dek renew puts the new key file beside it. Set strongroom.keyFile to the path of the key file itself, or pass --key-file.`,
      { details: { path: configured } },
    );
  }
  return join(dirname(configured), `master-${fileStamp(new Date())}.key`);
}

/**
 * Names the flag in the error of a key that --hsm-key-label, --from-hsm-key-label or
 * --from-key-file gave, whose message would otherwise point at hsm.keystore.alias or
 * strongroom.keyFile. Other errors are returned as they are.
 */
export function renewFlagError(error: unknown, flags: RenewKeyFlags): unknown {
  if (!isStrongroomError(error)) {
    return error;
  }
  const label = error.details['keyLabel'];
  if (
    ['SR_HSM_KEY_NOT_FOUND', 'SR_HSM_KEY_ALIAS_BLANK'].includes(error.code) &&
    typeof label === 'string'
  ) {
    const blank =
      error.code === 'SR_HSM_KEY_ALIAS_BLANK' ? ', and the label starts or ends with a blank' : '';
    if (label === flags.hsmKeyLabel) {
      return new StrongroomError(
        error.code,
        `--hsm-key-label '${label}': no secret key has this label on the token${blank}. Pass the label that 'strongroom hsm verify' lists, or generate the key with 'strongroom hsm keygen --label ${label.trim()}'.`,
        { details: error.details },
      );
    }
    if (label === flags.fromHsmKeyLabel) {
      return new StrongroomError(
        error.code,
        `--from-hsm-key-label '${label}': no secret key has this label on the token${blank}. Pass the label of the old master key.`,
        { details: error.details },
      );
    }
  }
  if (flags.fromKeyFile !== undefined) {
    const path = resolve(flags.fromKeyFile);
    const reason =
      error.code === 'SR_KEYFILE_MISSING'
        ? 'the file does not exist'
        : error.code === 'SR_KEYFILE_INVALID'
          ? 'the path is not a key file with a 32-byte key'
          : undefined;
    if (reason !== undefined && error.details['path'] === path) {
      return new StrongroomError(
        error.code,
        `--from-key-file ${path}: ${reason}. Pass the path of the old master key file.`,
        { details: { path } },
      );
    }
  }
  return error;
}

/** Formats a time as YYYYMMDD-HHMMSS in UTC, for the name of a new key file. */
function fileStamp(time: Date): string {
  return time.toISOString().replace(/[-:]/g, '').replace('T', '-').replace(/\..*$/, '');
}
