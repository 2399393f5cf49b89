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

const program = new Command();
program
  .name('strongroom')
  .description('Privileged access management vault with an HSM-rooted key hierarchy')
  .version('0.1.0')
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
