import type { Command } from 'commander';
import { initHome } from '../../config/init-home.js';
import { resolveHome } from '../../config/home.js';
import { StrongroomError } from '../../errors.js';
import { runCommand } from '../output.js';

interface InitFlags {
  home?: string;
  databaseUrl: string;
  listen: string;
  hsmLibrary?: string;
  hsmTokenLabel?: string;
  hsmKeyLabel?: string;
  json?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'write a new home folder: strongroom.properties, security.properties and a master key or HSM settings',
    )
    .option('--home <dir>', 'home folder (default: $STRONGROOM_HOME or the current directory)')
    .option(
      '--database-url <url>',
      'sqlite:PATH relative to the home folder, or a postgres:// URL',
      'sqlite:data/strongroom.db',
    )
    .option('--listen <host:port>', 'address the service listens on', '127.0.0.1:8080')
    .option(
      '--hsm-library <path>',
      'PKCS#11 module of the HSM, for example /usr/lib/softhsm/libsofthsm2.so',
    )
    .option('--hsm-token-label <label>', 'label of the token that holds the master key')
    .option(
      '--hsm-key-label <label>',
      'label (keystore alias) of the AES-256 master key on the token',
    )
    .option('--json', 'print the result as JSON')
    .action(async (flags: InitFlags) => {
      await runCommand(flags.json === true, async () => {
        const hsmFlags = [flags.hsmLibrary, flags.hsmTokenLabel, flags.hsmKeyLabel];
        const given = hsmFlags.filter((value) => value !== undefined).length;
        if (given !== 0 && given !== 3) {
          throw new StrongroomError(
            'SR_CONFIG_VALUE_INVALID',
            'Give all three of --hsm-library, --hsm-token-label and --hsm-key-label for an HSM, or none for a file master key.',
          );
        }

        const layout = await initHome({
          home: resolveHome(flags.home),
          databaseUrl: flags.databaseUrl,
          listen: flags.listen,
          hsm:
            flags.hsmLibrary !== undefined &&
            flags.hsmTokenLabel !== undefined &&
            flags.hsmKeyLabel !== undefined
              ? {
                  library: flags.hsmLibrary,
                  tokenLabel: flags.hsmTokenLabel,
                  keyLabel: flags.hsmKeyLabel,
                }
              : undefined,
        });
        const provider = given === 3 ? 'hsm' : 'file';
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify({ home: layout.home, provider })}\n`);
        } else {
          process.stdout.write(`Wrote ${layout.home} with the ${provider} master key provider.\n`);
        }
      });
    });
}
