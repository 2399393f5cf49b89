import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { password as promptPassword } from '@inquirer/prompts';
import { resolveHome } from '../../config/home.js';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../logging.js';
import { openStore, type Store } from '../../store/index.js';
import { createUser, isRole, requiresTotp } from '../../auth/index.js';
import { ROLES } from '../../auth/users.js';
import { UserAdminService, type UserSummary } from '../../auth/user-admin.js';
import { createAuditLog } from '../../audit/index.js';
import type { AuditLog } from '../../audit/types.js';
import { StrongroomError } from '../../errors.js';
import { readStdin, runCommand } from '../output.js';

interface UserAddFlags {
  home?: string;
  username: string;
  role: string;
  json?: boolean;
}

interface UserNameFlags {
  home?: string;
  username: string;
  json?: boolean;
}

const HOME_HELP = 'home folder (default: $STRONGROOM_HOME or the current directory)';

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage users');
  user
    .command('add')
    .description(
      'create a user; the password is read from standard input, or asked for on a terminal',
    )
    .option('--home <dir>', HOME_HELP)
    .requiredOption(
      '--username <name>',
      'login name: letters, digits and . _ - @, up to 64 characters',
    )
    .option('--role <role>', 'administrator, auditor, operator or approver', 'administrator')
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserAddFlags) => {
      await runCommand(flags.json === true, async () => {
        const password = process.stdin.isTTY
          ? await promptPassword({ message: `Password for ${flags.username}:`, mask: true })
          : await readStdin();
        await withStore(flags.home, async (store, audit) => {
          const created = await createUser(
            store,
            { username: flags.username, password, role: flags.role },
            { audit: { log: audit, actor: cliActor().username, clientAddress: 'cli' } },
          );
          const totpRequired = isRole(created.role) && requiresTotp(created.role);
          if (flags.json === true) {
            const { id, username, role } = created;
            printJson({ id, username, role, totpRequired });
            return;
          }
          process.stdout.write(`Created ${created.role} '${created.username}'.\n`);
          process.stdout.write(enrolmentHint(created.username, totpRequired));
        });
      });
    });

  user
    .command('unlock')
    .description('clear the failed-login count and lock of a user')
    .option('--home <dir>', HOME_HELP)
    .requiredOption('--username <name>', 'login name of the user')
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserNameFlags) => {
      await runUserAction(flags, (admin, id) => admin.unlock(id, cliActor()), 'Unlocked');
    });

  user
    .command('reset-totp')
    .description('delete the TOTP second factor of a user, who enrols a new one at the next login')
    .option('--home <dir>', HOME_HELP)
    .requiredOption('--username <name>', 'login name of the user')
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserNameFlags) => {
      await runUserAction(
        flags,
        (admin, id) => admin.resetTotp(id, cliActor()),
        'Reset the TOTP second factor of',
      );
    });

  user
    .command('disable')
    .description('disable a user and end all of their sessions; they cannot log in until enabled')
    .option('--home <dir>', HOME_HELP)
    .requiredOption('--username <name>', 'login name of the user')
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserNameFlags) => {
      await runUserAction(
        flags,
        (admin, id) => admin.setDisabled(id, true, cliActor()),
        'Disabled',
      );
    });

  user
    .command('enable')
    .description('enable a disabled user, who may log in again')
    .option('--home <dir>', HOME_HELP)
    .requiredOption('--username <name>', 'login name of the user')
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserNameFlags) => {
      await runUserAction(
        flags,
        (admin, id) => admin.setDisabled(id, false, cliActor()),
        'Enabled',
      );
    });

  user
    .command('set-role')
    .description('change the role of a user and end their sessions')
    .option('--home <dir>', HOME_HELP)
    .requiredOption('--username <name>', 'login name of the user')
    .requiredOption('--role <role>', `new role: ${ROLES.join(', ')}`)
    .option('--json', 'print the result as JSON')
    .action(async (flags: UserNameFlags & { role: string }) => {
      await runUserAction(
        flags,
        (admin, id) => admin.setRole(id, flags.role, cliActor()),
        `Gave the role ${flags.role} to`,
      );
    });
}

/** Tells the administrator what a new user does at the first login. */
function enrolmentHint(username: string, totpRequired: boolean): string {
  if (!totpRequired) {
    return 'The role does not require TOTP; the user may enrol it after logging in.\n';
  }
  return (
    `'${username}' must enrol a TOTP second factor at the first login:\n` +
    '  1. POST /api/v1/auth/login with the user name and password returns a session limited to enrolment.\n' +
    '  2. POST /api/v1/auth/totp/enrol with that token returns the otpauth:// URI and secret, once.\n' +
    '  3. Add it to an authenticator app and POST /api/v1/auth/totp/confirm with {"code": "<6 digits>"}.\n' +
    '  4. Log in again with "totpCode" set to the current code.\n'
  );
}

async function runUserAction(
  flags: UserNameFlags,
  action: (admin: UserAdminService, userId: string) => Promise<UserSummary>,
  verb: string,
): Promise<void> {
  await runCommand(flags.json === true, async () => {
    await withStore(flags.home, async (store, audit) => {
      const found = await store.users.findUserByName(flags.username);
      if (found === undefined) {
        throw new StrongroomError(
          'SR_NOT_FOUND',
          `No user is named '${flags.username}'. Check the name.`,
        );
      }
      const summary = await action(new UserAdminService(store.users, audit), found.id);
      if (flags.json === true) {
        printJson(summary);
      } else {
        process.stdout.write(`${verb} '${summary.username}'.\n`);
      }
    });
  });
}

async function withStore(
  home: string | undefined,
  body: (store: Store, audit: AuditLog) => Promise<void>,
): Promise<void> {
  const config = await loadConfig(resolveHome(home));
  const logger = createLogger('warn');
  const store = await openStore(config.databaseUrl, { baseDir: config.layout.home, logger });
  try {
    await body(store, createAuditLog(store, logger));
  } finally {
    await store.close();
  }
}

function cliActor(): { username: string; clientAddress: string } {
  return { username: `os:${userInfo().username}`, clientAddress: 'cli' };
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
