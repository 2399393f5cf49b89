import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';

import { StrongroomError } from '../errors.js';
import { KyselyApiTokenRepository } from './api-token-repository.js';
import type { AccessRepository, GroupRepository } from './access-records.js';
import { KyselyAccessRepository } from './access-repository.js';
import { appendChainedEvent } from './audit-chain-append.js';
import { KyselyAuditRepository } from './audit-repository.js';
import { describeCause } from './causes.js';
import { KyselyKeyRepository } from './key-repository.js';
import { KyselyDekMigrationRepository } from './dek-migration-repository.js';
import { KyselyImportRepository } from './import-repository.js';
import { KyselyGroupRepository } from './group-repository.js';
import type {
  ApiTokenRepository,
  AuditRepository,
  DekMigrationRepository,
  ImportRepository,
  KeyRepository,
  SecretVersionRepository,
  Store,
  TransactionScope,
  UserRepository,
  VaultRepository,
} from './repositories.js';
import type { Database } from './schema.js';
import { KyselySecretVersionRepository } from './secret-version-repository.js';
import { KyselyUserRepository } from './user-repository.js';
import { KyselyVaultRepository } from './vault-repository.js';

/** A store on one Kysely instance, with one repository object per concept. */
export class KyselyStore implements Store {
  readonly dialect: Store['dialect'];
  readonly keys: KeyRepository;
  readonly users: UserRepository;
  readonly vault: VaultRepository;
  readonly secretVersions: SecretVersionRepository;
  readonly imports: ImportRepository;
  readonly apiTokens: ApiTokenRepository;
  readonly audit: AuditRepository;
  readonly groups: GroupRepository;
  readonly access: AccessRepository;
  readonly dekMigrations: DekMigrationRepository;

  readonly #db: Kysely<Database>;
  /** The database for messages, for example "PostgreSQL at db1:5432, database 'vault'". */
  readonly #description: string;
  /** Replaces any password of the URL in a text with `***`. */
  readonly #redact: (text: string) => string;
  readonly #logger: Logger;
  #closed: Promise<void> | undefined;

  constructor(
    db: Kysely<Database>,
    dialect: Store['dialect'],
    options: { description: string; redact: (text: string) => string; logger: Logger },
  ) {
    this.#db = db;
    this.dialect = dialect;
    this.#description = options.description;
    this.#redact = options.redact;
    this.#logger = options.logger;
    this.keys = new KyselyKeyRepository(db, dialect);
    this.users = new KyselyUserRepository(db, dialect);
    this.vault = new KyselyVaultRepository(db);
    this.audit = new KyselyAuditRepository(db, dialect);
    this.secretVersions = new KyselySecretVersionRepository(db);
    this.imports = new KyselyImportRepository(db);
    this.apiTokens = new KyselyApiTokenRepository(db);
    this.groups = new KyselyGroupRepository(db);
    this.access = new KyselyAccessRepository(db);
    this.dekMigrations = new KyselyDekMigrationRepository(db, dialect);
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.#db);
    } catch (error) {
      const reason = this.#redact(describeCause(error));
      const hint =
        this.dialect === 'sqlite'
          ? 'Check that the file exists and that the service user may read and write it.'
          : 'Check that the server is running and that the URL, user and password are right.';
      throw new StrongroomError(
        'SR_DB_UNREACHABLE',
        `Cannot reach ${this.#description}: ${reason}. ${hint}`,
        { cause: error, details: { database: this.#description, reason } },
      );
    }
  }

  transact<T>(work: (scope: TransactionScope) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute((transaction) =>
      work({
        users: new KyselyUserRepository(transaction, this.dialect),
        vault: new KyselyVaultRepository(transaction),
        groups: new KyselyGroupRepository(transaction),
        access: new KyselyAccessRepository(transaction),
        appendEvent: (event) => appendChainedEvent(transaction, this.dialect, event),
      }),
    );
  }

  /** Closes the connections. Later calls return the first call's promise. */
  close(): Promise<void> {
    this.#closed ??= this.#db.destroy().then(() => {
      this.#logger.info({ dialect: this.dialect }, 'database closed');
    });
    return this.#closed;
  }
}
