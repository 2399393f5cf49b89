import { isStrongroomError, StrongroomError } from '../errors.js';

/** Exit codes shared by every command. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: configuration, HSM, database or key errors. */
  failed: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** The administrator pressed Ctrl-C at a prompt: 128 + SIGINT, as shells report it. */
  cancelled: 130,
} as const;

/**
 * Prints an error for an administrator: the stable code and the message, which names the value
 * and the fix. Unexpected errors print their message only; the stack goes to STRONGROOM_DEBUG=1.
 */
export function printError(error: unknown, json: boolean): void {
  const code = isStrongroomError(error) ? error.code : 'SR_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: { code, message } })}\n`);
  } else {
    process.stderr.write(`strongroom: ${code}: ${message}\n`);
  }
  if (
    process.env['STRONGROOM_DEBUG'] === '1' &&
    error instanceof Error &&
    !isStrongroomError(error)
  ) {
    process.stderr.write(`${error.stack ?? ''}\n`);
  }
}

/** The usage error of a command that needs a confirmation while standard input is no terminal. */
export const CONFIRMATION_NEEDS_YES =
  'Standard input is not a terminal, so the command cannot ask for confirmation. Pass --yes to run it.';

/** Prints an SR_CLI_USAGE_INVALID error about the command line and sets the usage exit code. */
export function usageError(message: string, json: boolean): void {
  printError(new StrongroomError('SR_CLI_USAGE_INVALID', message), json);
  process.exitCode = EXIT.usage;
}

/**
 * Runs a command body and turns its outcome into an exit code. Ctrl-C at a prompt, which
 * @inquirer/prompts raises as an ExitPromptError, ends the command as cancelled.
 */
export async function runCommand(json: boolean, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (isPromptExit(error)) {
      process.stderr.write('\nCancelled at the prompt.\n');
      process.exitCode = EXIT.cancelled;
      return;
    }
    printError(error, json);
    process.exitCode = EXIT.failed;
  }
}

/** Tells whether an error is Ctrl-C at a prompt of @inquirer/prompts. */
export function isPromptExit(error: unknown): boolean {
  return error instanceof Error && error.name === 'ExitPromptError';
}

/** Reads all of standard input as UTF-8, without its final line break. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
