import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { password as promptPassword } from '@inquirer/prompts';
import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../logging.js';
import { openStore } from '../../store/index.js';
import { createUser } from '../../auth/index.js';
import { createAuditLog } from '../../audit/index.js';
import { readStdin, runCommand } from '../output.js';

interface UserAddFlags {
  home?: string;
  username: string;
  role: string;
  json?: boolean;
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage users');
  user
    .command('add')
    .description(
      'create a user; the password is read from standard input, or asked for on a terminal',
    )
    .option('--home <dir>', 'home folder (default: $STRONGROOM_HOME or the current directory)')
    .requiredOption(
      '--username <name>',
      'login name: letters, digits and . _ - @, up to 64 characters',
    )
    .option('--role <role>', 'administrator, auditor, operator or approver', 'administrator')
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserAddFlags) => {
      await runCommand(flags.json === true, async () => {
        const config = await loadConfig(resolveHome(flags.home));
        const password = process.stdin.isTTY
          ? await promptPassword({ message: `Password for ${flags.username}:`, mask: true })
          : await readStdin();
        const logger = createLogger('warn');
        const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
        try {
          const created = await createUser(
            store,
            { username: flags.username, password, role: flags.role },
            {
              audit: {
                log: createAuditLog(store, logger),
                actor: `os:${userInfo().username}`,
                clientAddress: 'cli',
              },
            },
          );
          if (flags.json === true) {
            process.stdout.write(
              `${JSON.stringify({ id: created.id, username: created.username, role: created.role })}\n`,
            );
          } else {
            process.stdout.write(`Created ${created.role} '${created.username}'.\n`);
          }
        } finally {
          await store.close();
        }
      });
    });
}
