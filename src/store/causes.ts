/**
 * Describes a driver or system error in one line for an error message, without a final period.
 * Node reports a failed connection to a name with several addresses as an AggregateError with an
 * empty message, so the messages of its errors are joined instead.
 */
export function describeCause(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map(describeCause).join('; ');
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const text = error.message !== '' ? error.message : (code ?? error.name);
    return text.replace(/\.$/, '');
  }
  return String(error);
}
