import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { createAuditLog } from '../audit/index.js';
import { initHome } from '../config/init-home.js';
import { loadConfig } from '../config/load.js';
import { openKeyring } from '../keys/open-keyring.js';
import { openStore } from '../store/index.js';
import { createVaultService } from '../vault/service.js';
import type { Actor } from '../vault/types.js';
import type { BenchToken } from './hsm-measurements.js';
import { seedRevealGrants, type BenchUsers } from './service-grants.js';

/** Accounts created at once while seeding, enough to keep every HSM session busy. */
const SEED_CONCURRENCY = 16;

/**
 * A home folder for one benchmark service, with its users and seeded accounts, each of which the
 * operator may reveal under an approved access request.
 */
export interface BenchHome {
  home: string;
  port: number;
  users: BenchUsers;
  accountIds: string[];
}

const seedActor: Actor = {
  userId: 'bench',
  username: 'bench',
  role: 'administrator',
  clientAddress: '127.0.0.1',
};

/**
 * Writes a home folder with the key file (`token` undefined) or the SoftHSM token as master key,
 * creates `accounts` accounts with random 32-character secrets, and the users and approved grants
 * that let an operator reveal each. The accounts are created through the vault service in this
 * process, as the API would create them, so each has its own DEK wrapped by the configured master
 * key and an audit event.
 */
export async function createBenchHome(options: {
  directory: string;
  port: number;
  token: BenchToken | undefined;
  accounts: number;
}): Promise<BenchHome> {
  const home = join(options.directory, options.token === undefined ? 'file-home' : 'hsm-home');
  const { token } = options;
  await initHome({
    home,
    databaseUrl: 'sqlite:data/strongroom.db',
    listen: `127.0.0.1:${options.port}`,
    hsm:
      token === undefined
        ? undefined
        : { library: token.library, tokenLabel: token.tokenLabel, keyLabel: token.keyLabel },
  });
  // Request lines at info would measure the log pipe as much as the service.
  await appendFile(join(home, 'strongroom.properties'), 'log.level = warn\n');

  const logger = pino({ level: 'warn' });
  const config = await loadConfig(home);
  const store = await openStore(config.databaseUrl, { baseDir: home, logger });
  try {
    const keyring = await openKeyring(config, store.keys, logger);
    try {
      const audit = createAuditLog(store, logger);
      const vault = createVaultService({
        vault: store.vault,
        keys: store.keys,
        keyring,
        audit,
        logger,
      });
      const target = await vault.createTarget(
        { name: 'bench-target', address: '10.0.0.1', description: '' },
        seedActor,
      );

      const accountIds: string[] = [];
      const createNext = async (): Promise<void> => {
        while (accountIds.length < options.accounts) {
          const index = accountIds.length;
          accountIds.push('');
          const account = await vault.createAccount(
            target.id,
            {
              username: `account-${index}`,
              description: '',
              secret: randomBytes(16).toString('hex'),
            },
            seedActor,
          );
          accountIds[index] = account.id;
        }
      };
      await Promise.all(Array.from({ length: SEED_CONCURRENCY }, createNext));
      const users = await seedRevealGrants({
        store,
        vault,
        audit,
        logger,
        targetId: target.id,
        accountIds,
        concurrency: SEED_CONCURRENCY,
      });
      return { home, port: options.port, users, accountIds };
    } finally {
      await keyring.close();
    }
  } finally {
    await store.close();
  }
}
