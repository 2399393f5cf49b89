import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** Keys as a terminal sends them. */
export const KEYS = {
  enter: '\r',
  down: '\u001b[B',
  up: '\u001b[A',
  ctrlC: '\u0003',
} as const;

/** A program running on a pseudo-terminal, with what it has printed so far. */
export interface TerminalSession {
  /** Waits until the output after the last `expect` contains `text`, then returns that output. */
  expect(text: string, timeoutMs?: number): Promise<string>;
  type(keys: string): void;
  exited: Promise<number | null>;
  output(): string;
  kill(): void;
}

/**
 * Runs a command on a pseudo-terminal made by util-linux's `script`, so that the program gets a
 * terminal on its standard input and output, as it does for an administrator at a shell.
 */
export function startOnTerminal(command: string[], env: NodeJS.ProcessEnv): TerminalSession {
  const quoted = command.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  const child: ChildProcessWithoutNullStreams = spawn('script', ['-qfec', quoted, '/dev/null'], {
    env: { ...process.env, ...env, TERM: 'xterm', COLUMNS: '120', LINES: '40' },
  });
  let output = '';
  let mark = 0;
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );

  return {
    async expect(text, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const index = output.indexOf(text, mark);
        if (index >= 0) {
          const seen = output.slice(mark, index + text.length);
          mark = index + text.length;
          return seen;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the terminal never showed ${JSON.stringify(text)}; it showed:\n${output}`);
    },
    type(keys) {
      child.stdin.write(keys);
    },
    exited,
    output: () => output,
    kill: () => child.kill('SIGKILL'),
  };
}
