export { runDekMigration } from './run.js';
export type { MigrationOptions, MigrationProgress, MigrationSummary } from './types.js';
export { openMigrationProviders, type MigrationProviders } from './providers.js';
