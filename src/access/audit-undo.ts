/**
 * Waits for an audit event and, when it could not be written, runs `undo` to take back the change
 * it records, then rethrows the audit error. An action without its event does not stand. A failure
 * of `undo` is ignored here because the audit error is what the caller must see.
 */
export async function undoUnlessAudited(
  recording: Promise<void>,
  undo: () => Promise<void>,
): Promise<void> {
  try {
    await recording;
  } catch (error) {
    // NOTE: if the undo fails as well (the database is down), the change stays without its event.
    await undo().catch(() => undefined);
    throw error;
  }
}
