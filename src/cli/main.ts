import { Command } from 'commander';
import { registerDek } from './commands/dek.js';
import { registerInit } from './commands/init.js';
import { registerServe } from './commands/serve.js';
import { registerUser } from './commands/user.js';
import { registerQuickstart } from './commands/quickstart.js';
import { registerHsm } from './commands/hsm.js';
import { registerDoctor } from './commands/doctor.js';
import { registerAudit } from './commands/audit.js';
import { registerImport } from './commands/import.js';
import { EXIT } from './output.js';

// A reader that stops early, such as `| head`, closes the pipe. The writes after that are lost,
// but the command must still finish its steps, such as writing the settings after a migration.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') {
      throw error;
    }
  });
}

const program = new Command();
program
  .name('strongroom')
  .description('Privileged access management vault with an HSM-rooted key hierarchy')
  .version('0.1.0')
  // Options of a command that has subcommands, such as `dek --home DIR`, are read before the
  // subcommand only, so that the subcommand's own options of the same name keep working.
  .enablePositionalOptions()
  // Commander's own errors, such as an unknown option, carry the usage code like every other one.
  .configureOutput({
    outputError: (message, write) =>
      write(`strongroom: SR_CLI_USAGE_INVALID: ${message.replace(/^error: /, '')}`),
  })
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
  });

registerInit(program);
registerServe(program);
registerUser(program);
registerQuickstart(program);
registerDek(program);
registerHsm(program);
registerDoctor(program);
registerAudit(program);
registerImport(program);

await program.parseAsync(process.argv);
