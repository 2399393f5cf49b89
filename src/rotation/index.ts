export { incompleteRunError } from './incomplete.js';
export { runDekMigration } from './run.js';
export type { MigrationOptions, MigrationProgress, MigrationSummary } from './types.js';
export {
  openMigrationProviders,
  openRenewProviders,
  type MigrationProviders,
  type RenewTarget,
} from './providers.js';
