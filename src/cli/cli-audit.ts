import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';

import type { Logger } from 'pino';

import { createAuditLog } from '../audit/index.js';
import type { AuditEventDraft } from '../audit/types.js';
import type { StrongroomConfig } from '../config/load.js';
import { openStore, type Store } from '../store/index.js';
import { parseDatabaseUrl } from '../store/url.js';

/** The audit log of a home's database, opened for one CLI command. */
export interface CliAudit {
  /** Appends the event with the CLI actor. Rejects with SR_AUDIT_WRITE_FAILED when it fails. */
  record(event: Omit<AuditEventDraft, 'actor' | 'clientAddress'>): Promise<void>;
  close(): Promise<void>;
}

/** Returns the actor of CLI audit events: `os:` and the login name of the operating system user. */
export function cliActor(): string {
  return `os:${userInfo().username}`;
}

/**
 * Opens the audit log of the home's database and migrates its schema, as the other CLI commands
 * do. When the database is a SQLite file that does not exist yet, as between `strongroom init` and
 * the first `strongroom serve`, prints a warning that `change` is not audited and returns
 * undefined: an HSM command does not create the database. Throws the errors of openStore, such as
 * SR_DB_UNREACHABLE, so the caller stops before the change it was going to record.
 */
export async function openCliAudit(
  config: StrongroomConfig,
  logger: Logger,
  change: string,
): Promise<CliAudit | undefined> {
  const location = parseDatabaseUrl(config.databaseUrl, config.layout.home);
  if (location.dialect === 'sqlite' && !existsSync(location.file)) {
    process.stderr.write(
      `strongroom: warning: ${change} is not in the audit log, because the database ${location.file} does not exist yet. It is created by the first command that opens it, such as 'strongroom serve'.\n`,
    );
    return undefined;
  }

  const store: Store = await openStore(config.databaseUrl, {
    baseDir: config.layout.home,
    logger,
  });
  const audit = createAuditLog(store, logger);
  return {
    record: (event) => audit.record({ ...event, actor: cliActor(), clientAddress: 'cli' }),
    close: () => store.close(),
  };
}
