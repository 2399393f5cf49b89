import { input, select } from '@inquirer/prompts';

import { EXIT, isPromptExit, printError } from '../output.js';

/** The command that a menu entry starts: a status, a migration to a provider, or a renewal. */
export type DekMenuAction =
  | { kind: 'status' }
  | { kind: 'migrate'; to: 'hsm' | 'file'; dryRun: boolean }
  | { kind: 'renew'; target: { keyFile?: string; hsmKeyLabel?: string }; dryRun: boolean };

type Choice = 'status' | 'to-hsm' | 'to-file' | 'renew-file' | 'renew-hsm' | 'quit';

/**
 * Runs the menu of `strongroom dek` on a terminal until the administrator quits. Each entry prompts
 * for what its command needs, and `run` starts the command with the same confirmation and
 * settings offer as its flags give. A failed command prints its error, sets the exit code and
 * returns to the menu. Ctrl-C at a prompt ends the menu.
 */
export async function runDekMenu(
  home: string,
  run: (action: DekMenuAction) => Promise<void>,
): Promise<void> {
  process.stdout.write(`Strongroom DEK migration: ${home}\n`);
  for (;;) {
    const choice = await select<Choice>({
      message: 'Choose an action',
      choices: [
        { name: '1) Show DEK counts per master key and the latest runs', value: 'status' },
        { name: '2) Migrate the DEKs to the HSM key', value: 'to-hsm' },
        { name: '3) Roll the DEKs back to the file key', value: 'to-file' },
        { name: '4) Renew the master key: a new key file', value: 'renew-file' },
        { name: '5) Renew the master key: another key on the HSM', value: 'renew-hsm' },
        { name: '0) Exit', value: 'quit' },
      ],
    });
    if (choice === 'quit') {
      return;
    }

    const action = await askAction(choice);
    try {
      await run(action);
    } catch (error) {
      if (isPromptExit(error)) {
        throw error;
      }
      printError(error, false);
      process.exitCode = EXIT.failed;
    }
  }
}

async function askAction(choice: Exclude<Choice, 'quit'>): Promise<DekMenuAction> {
  switch (choice) {
    case 'status':
      return { kind: 'status' };
    case 'to-hsm':
    case 'to-file':
      return {
        kind: 'migrate',
        to: choice === 'to-hsm' ? 'hsm' : 'file',
        dryRun: await askDryRun(),
      };
    case 'renew-file': {
      const keyFile = await input({
        message:
          'New key file (empty: a new file beside the current one, real run only; an existing file resumes):',
      });
      // A dry run needs a key file that exists, so a new one is only ever made by a real run.
      if (keyFile.trim() === '') {
        return { kind: 'renew', target: {}, dryRun: false };
      }
      return { kind: 'renew', target: { keyFile: keyFile.trim() }, dryRun: await askDryRun() };
    }
    case 'renew-hsm': {
      const hsmKeyLabel = await input({
        message: "Label of the new key on the token (make one with 'strongroom hsm keygen'):",
        validate: (value) => value.trim() !== '' || 'Enter the label of an AES-256 key.',
      });
      return { kind: 'renew', target: { hsmKeyLabel }, dryRun: await askDryRun() };
    }
  }
}

async function askDryRun(): Promise<boolean> {
  return select<boolean>({
    message: 'Run it now, or try it first?',
    choices: [
      { name: 'Dry run: open and wrap every DEK, write nothing', value: true },
      { name: 'Run: re-wrap and write every DEK, after a confirmation', value: false },
    ],
  });
}
