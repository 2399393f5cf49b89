import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import type { AuditLog } from '../../audit/types.js';
import type { Keyring } from '../../keys/keyring.js';
import type {
  AccountRecord,
  ImportBatch,
  ImportRepository,
  TargetRecord,
  VaultRepository,
} from '../../store/repositories.js';
import { sealSecret } from '../seal.js';
import type { Actor } from '../types.js';
import { parseImportCsv, type RowError } from './csv.js';
import { validateRows, type ExistingVault, type ValidRow } from './rows.js';

export interface ImportOptions {
  /** Imports the valid rows of a file that has invalid ones; otherwise such a file imports nothing. */
  skipInvalid: boolean;
  /**
   * Called after the checks and before anything is written, with what the import would do. When it
   * resolves false, nothing is written or audited and the report has imported: false.
   */
  confirm?: (preview: ImportReport) => Promise<boolean>;
}

/** The outcome of an import. Errors name lines and columns, never a field value. */
export interface ImportReport {
  imported: boolean;
  /** Data rows in the file, without the header. */
  rows: number;
  targetsCreated: number;
  accountsCreated: number;
  rowsSkipped: number;
  errors: RowError[];
}

export interface VaultImporter {
  /**
   * Imports targets and accounts from CSV text in one transaction. A file with any error imports
   * nothing unless `skipInvalid` is set, and a file that cannot be parsed imports nothing at all.
   * Every call that `confirm` does not cancel writes a `vault.import` audit event with the counts.
   * When a successful import cannot be audited, its rows are deleted again and
   * SR_AUDIT_WRITE_FAILED is thrown.
   */
  importCsv(text: string, options: ImportOptions, actor: Actor): Promise<ImportReport>;
}

export interface ImportDependencies {
  vault: Pick<VaultRepository, 'listTargets' | 'listAccounts'>;
  imports: ImportRepository;
  keyring: Pick<Keyring, 'newDek'>;
  audit: AuditLog;
  logger: Logger;
  now?: () => Date;
}

export function createVaultImporter(deps: ImportDependencies): VaultImporter {
  const now = deps.now ?? (() => new Date());

  async function audit(report: ImportReport, options: ImportOptions, actor: Actor): Promise<void> {
    await deps.audit.record({
      actor: actor.username,
      clientAddress: actor.clientAddress,
      action: 'vault.import',
      objectType: 'vault',
      objectId: '',
      outcome: report.imported ? 'success' : 'failure',
      reason: '',
      details: {
        rows: report.rows,
        targetsCreated: report.targetsCreated,
        accountsCreated: report.accountsCreated,
        rowsSkipped: report.rowsSkipped,
        errors: report.errors.length,
        skipInvalid: options.skipInvalid,
      },
    });
  }

  return {
    async importCsv(text, options, actor) {
      const parsed = parseImportCsv(text);
      if (!parsed.ok) {
        const report = emptyReport(0, [parsed.error]);
        await audit(report, options, actor);
        return report;
      }

      const { valid, errors } = await validateRows(
        parsed.rows,
        parsed.columns.length,
        await loadExisting(deps),
      );
      if (errors.length > 0 && !options.skipInvalid) {
        const report = emptyReport(parsed.rows.length, errors);
        await audit(report, options, actor);
        return report;
      }

      const report: ImportReport = {
        imported: true,
        rows: parsed.rows.length,
        targetsCreated: new Set(
          valid.filter((row) => row.existingTargetId === undefined).map((row) => row.targetName),
        ).size,
        accountsCreated: valid.length,
        rowsSkipped: errors.length,
        errors,
      };
      if (options.confirm !== undefined && !(await options.confirm(report))) {
        return { ...report, imported: false, targetsCreated: 0, accountsCreated: 0 };
      }

      const batch = await buildBatch(deps.keyring, valid, actor, now().toISOString());
      await deps.imports.insertBatch(batch);

      try {
        await audit(report, options, actor);
      } catch (error) {
        await deps.imports.deleteBatch(batch).catch((deleteError: unknown) => {
          deps.logger.error({ err: deleteError }, 'unaudited import could not be deleted');
        });
        throw error;
      }
      deps.logger.info(
        { targetsCreated: report.targetsCreated, accountsCreated: report.accountsCreated },
        'CSV import stored',
      );
      return report;
    },
  };
}

function emptyReport(rows: number, errors: RowError[]): ImportReport {
  return { imported: false, rows, targetsCreated: 0, accountsCreated: 0, rowsSkipped: 0, errors };
}

async function loadExisting(deps: ImportDependencies): Promise<ExistingVault> {
  const targets = await deps.vault.listTargets();
  const accounts = new Map<string, Promise<AccountRecord[]>>();
  return {
    targetsByName: new Map(targets.map((target) => [target.name, target])),
    accountsOf(targetId) {
      let list = accounts.get(targetId);
      if (list === undefined) {
        list = deps.vault.listAccounts(targetId);
        accounts.set(targetId, list);
      }
      return list;
    },
  };
}

/** Encrypts each secret under a new DEK and builds the rows; targets that exist are reused. */
async function buildBatch(
  keyring: Pick<Keyring, 'newDek'>,
  rows: ValidRow[],
  actor: Actor,
  timestamp: string,
): Promise<ImportBatch> {
  const batch: ImportBatch = {
    targets: [],
    accounts: [],
    origin: { createdBy: actor.username, reason: 'Imported from CSV.' },
  };
  const targetIds = new Map<string, string>();

  for (const row of rows) {
    let targetId = row.existingTargetId ?? targetIds.get(row.targetName);
    if (targetId === undefined) {
      const target: TargetRecord = {
        id: randomUUID(),
        name: row.targetName,
        address: row.targetAddress,
        description: row.targetDescription,
        createdAt: timestamp,
      };
      targetId = target.id;
      targetIds.set(row.targetName, targetId);
      batch.targets.push(target);
    }

    const accountId = randomUUID();
    const { dek, ciphertext } = await sealSecret(keyring, accountId, 1, row.secret);
    batch.accounts.push({
      dek,
      account: {
        id: accountId,
        targetId,
        username: row.username,
        description: row.accountDescription,
        dekId: dek.id,
        secretCiphertext: ciphertext,
        secretVersion: 1,
        secretType: row.secretType,
        createdAt: timestamp,
        updatedAt: timestamp,
      },
    });
  }
  return batch;
}
