import type { Kysely } from 'kysely';

import * as initial from './0001_initial.js';
import * as dekMigrationRuns from './0002_dek_migration_runs.js';
import * as deksKeyIdIndex from './0003_deks_key_id_index.js';
import * as auditChain from './0004_audit_chain.js';
import * as accessWorkflow from './0005_access_workflow.js';
import * as secretVersionsAndApiTokens from './0006_secret_versions_and_api_tokens.js';
import * as caseInsensitiveNames from './0007_case_insensitive_names.js';
import * as auditKeyRollovers from './0009_audit_key_rollovers.js';
import * as deksInIdOrder from './0010_deks_in_id_order.js';

export type DialectName = 'sqlite' | 'postgres';

/**
 * A schema migration. `up` runs inside the migration transaction of its run, so it must not open a
 * transaction of its own. There is no `down`: a vault is restored from a backup, never migrated
 * backwards.
 */
export interface StoreMigration {
  /** Sortable and never renamed: the name is what the migration table records. */
  name: string;
  up(db: Kysely<unknown>, dialect: DialectName): Promise<void>;
}

/** Every migration of this release, in the order they run. A new migration is appended here. */
export const migrations: readonly StoreMigration[] = [
  { name: '0001_initial', up: initial.up },
  { name: '0002_dek_migration_runs', up: dekMigrationRuns.up },
  { name: '0003_deks_key_id_index', up: deksKeyIdIndex.up },
  { name: '0004_audit_chain', up: auditChain.up },
  { name: '0005_access_workflow', up: accessWorkflow.up },
  { name: '0006_secret_versions_and_api_tokens', up: secretVersionsAndApiTokens.up },
  { name: '0007_case_insensitive_names', up: caseInsensitiveNames.up },
  { name: '0009_audit_key_rollovers', up: auditKeyRollovers.up },
  { name: '0010_deks_in_id_order', up: deksInIdOrder.up },
];
