/** Outcome of one doctor check. `skipped` means that an earlier failure made the check impossible. */
export type CheckStatus = 'ok' | 'warning' | 'failed' | 'skipped';

/** One line of the doctor's report: what was checked, the outcome and, unless it is ok, the fix. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  message: string;
  /** Stable error code when the check failed with a Strongroom error. */
  code?: string;
  fix?: string;
}

/** Builds a result from a thrown error: its code and message, which names the fix. */
export function failedFrom(name: string, error: unknown): CheckResult {
  const message = error instanceof Error ? error.message : String(error);
  const code =
    typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
      ? error.code
      : undefined;
  return { name, status: 'failed', message, ...(code === undefined ? {} : { code }) };
}
