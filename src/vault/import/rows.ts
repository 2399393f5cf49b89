import type { AccountRecord, TargetRecord } from '../../store/repositories.js';
import { findSecretProblem, type SecretType } from '../secret-types.js';
import type { CsvRow, RowError } from './csv.js';

/** A row that passed every check, ready to be stored. */
export interface ValidRow {
  line: number;
  targetName: string;
  targetAddress: string;
  targetDescription: string;
  username: string;
  secretType: SecretType;
  secret: string;
  accountDescription: string;
  /** The id of the stored target that the row names, or undefined when the import creates it. */
  existingTargetId: string | undefined;
}

/** What the database contains already, for the checks against existing targets and accounts. */
export interface ExistingVault {
  targetsByName: ReadonlyMap<string, TargetRecord>;
  accountsOf(targetId: string): Promise<AccountRecord[]>;
}

/** Rejects C0 control characters and DEL, as the REST routes do for names and addresses. */
// eslint-disable-next-line no-control-regex -- the control characters are what it rejects
const PRINTABLE = /^[^\u0000-\u001f\u007f]*$/;

/** Limits on the fields, the same as those of the REST routes that create targets and accounts. */
const FIELD_RULES = [
  { column: 'target_name', required: true, maxLength: 200, printable: true },
  { column: 'target_address', required: true, maxLength: 255, printable: true },
  { column: 'target_description', required: false, maxLength: 2000, printable: false },
  { column: 'account_username', required: true, maxLength: 255, printable: true },
  { column: 'secret_type', required: true, maxLength: 40, printable: true },
  { column: 'account_description', required: false, maxLength: 2000, printable: false },
] as const;

/**
 * Checks each row on its own, then against the rows before it in the file and against the
 * database. Returns the valid rows and one error per invalid row. Messages name the line and the
 * column but never a field value, so that a secret typed into the wrong column is not echoed.
 */
export async function validateRows(
  rows: CsvRow[],
  headerFieldCount: number,
  existing: ExistingVault,
): Promise<{ valid: ValidRow[]; errors: RowError[] }> {
  const valid: ValidRow[] = [];
  const errors: RowError[] = [];
  const accountLines = new Map<string, number>();
  const targetLines = new Map<string, ValidRow>();

  for (const row of rows) {
    const checked = checkRow(row, headerFieldCount);
    if (typeof checked === 'string') {
      errors.push({ line: row.line, message: checked });
      continue;
    }

    const problem =
      checkAgainstFile(checked, accountLines, targetLines) ??
      (await checkAgainstDatabase(checked, existing));
    if (problem !== undefined) {
      errors.push({ line: row.line, message: problem });
      continue;
    }

    checked.existingTargetId = existing.targetsByName.get(checked.targetName)?.id;
    accountLines.set(accountKey(checked), checked.line);
    if (!targetLines.has(checked.targetName)) {
      targetLines.set(checked.targetName, checked);
    }
    valid.push(checked);
  }
  return { valid, errors };
}

function checkRow(row: CsvRow, headerFieldCount: number): ValidRow | string {
  if (row.fieldCount !== headerFieldCount) {
    return `the row has ${row.fieldCount} fields, but the header has ${headerFieldCount}`;
  }

  const values: Record<string, string> = {};
  for (const rule of FIELD_RULES) {
    const value = (row.fields[rule.column] ?? '').trim();
    if (rule.required && value === '') {
      return `the field ${rule.column} is missing`;
    }
    if (value.length > rule.maxLength) {
      return `the field ${rule.column} is too long: it has ${value.length} characters, the maximum is ${rule.maxLength}`;
    }
    if (rule.printable && !PRINTABLE.test(value)) {
      return `the field ${rule.column} contains a control character`;
    }
    values[rule.column] = value;
  }

  // The secret is kept exactly as written: blanks and line breaks may be part of it.
  const secret = row.fields.secret ?? '';
  const secretType = values['secret_type'] ?? '';
  const problem = findSecretProblem(secretType, secret);
  if (problem !== undefined) {
    return `the field secret is invalid: ${problem}`;
  }

  return {
    line: row.line,
    targetName: values['target_name'] ?? '',
    targetAddress: values['target_address'] ?? '',
    targetDescription: values['target_description'] ?? '',
    username: values['account_username'] ?? '',
    secretType: secretType as SecretType,
    secret,
    accountDescription: values['account_description'] ?? '',
    existingTargetId: undefined,
  };
}

function checkAgainstFile(
  row: ValidRow,
  accountLines: ReadonlyMap<string, number>,
  targetLines: ReadonlyMap<string, ValidRow>,
): string | undefined {
  const duplicate = accountLines.get(accountKey(row));
  if (duplicate !== undefined) {
    return `the account duplicates the one on line ${duplicate} (same target_name and account_username)`;
  }

  const definition = targetLines.get(row.targetName);
  if (definition === undefined) {
    return undefined;
  }
  if (definition.targetAddress !== row.targetAddress) {
    return `the target_address differs from the one given for the same target on line ${definition.line}`;
  }
  if (row.targetDescription !== '' && row.targetDescription !== definition.targetDescription) {
    return `the target_description differs from the one given for the same target on line ${definition.line}; leave it empty or repeat it`;
  }
  return undefined;
}

async function checkAgainstDatabase(
  row: ValidRow,
  existing: ExistingVault,
): Promise<string | undefined> {
  const target = existing.targetsByName.get(row.targetName);
  if (target === undefined) {
    return undefined;
  }
  if (target.address !== row.targetAddress) {
    return 'the target exists with another target_address; give its stored address or another target_name';
  }
  if (row.targetDescription !== '' && row.targetDescription !== target.description) {
    return 'the target exists with another target_description; leave the field empty or give the stored one';
  }

  const accounts = await existing.accountsOf(target.id);
  if (accounts.some((account) => account.username === row.username)) {
    return 'the account exists: the target already has an account with this account_username';
  }
  return undefined;
}

function accountKey(row: ValidRow): string {
  return JSON.stringify([row.targetName, row.username]);
}
