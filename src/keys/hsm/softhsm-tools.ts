import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { StrongroomError } from '../../errors.js';

const run = promisify(execFile);

const packageOfTool: Record<string, string> = {
  'softhsm2-util': 'softhsm2',
  'pkcs11-tool': 'opensc',
};

/**
 * Runs a tool with SOFTHSM2_CONF set and returns its standard output. The error names the tool,
 * its exit status and its messages, with every PIN in them replaced by '***'.
 */
export async function runTool(
  tool: string,
  args: string[],
  configPath: string | undefined,
  secrets: readonly string[],
): Promise<string> {
  const env =
    configPath === undefined ? process.env : { ...process.env, SOFTHSM2_CONF: configPath };
  try {
    const { stdout } = await run(tool, args, { env, timeout: 60_000 });
    return stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & {
      stderr?: string;
      stdout?: string;
      code?: string | number;
    };
    if (failure.code === 'ENOENT') {
      throw new StrongroomError(
        'SR_HSM_TOOL_FAILED',
        `${tool} is not installed. Install the ${packageOfTool[tool] ?? tool} package (apt-get install ${packageOfTool[tool] ?? tool}).`,
      );
    }

    const output = hideSecrets(`${failure.stderr ?? ''}${failure.stdout ?? ''}`.trim(), secrets);
    throw new StrongroomError(
      'SR_HSM_TOOL_FAILED',
      `${tool} ${args[0] ?? ''} failed with exit status ${String(failure.code)}: ${output}`,
      {
        details: { tool },
      },
    );
  }
}

function hideSecrets(text: string, secrets: readonly string[]): string {
  return secrets
    .filter((secret) => secret !== '')
    .reduce((result, secret) => result.split(secret).join('***'), text);
}
