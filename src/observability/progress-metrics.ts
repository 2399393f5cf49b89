import { Counter, Gauge, type Registry } from 'prom-client';

/** Updates the DEK migration metrics. The code that runs a migration calls it after each batch. */
export interface DekMigrationMetrics {
  /** Sets the progress of the run that moves DEKs from one master key to another. */
  setProgress(progress: { migrated: number; total: number; running: boolean }): void;
}

/**
 * Registers the DEK migration metrics and returns their updater. Nothing registers them yet: the
 * migration code calls this once with the service registry when it reports progress, so that no
 * metric is exported without a source that updates it.
 */
export function registerDekMigrationMetrics(registry: Registry): DekMigrationMetrics {
  const migrated = new Gauge({
    name: 'strongroom_dek_migration_migrated',
    help: 'DEKs that the current or last DEK migration run has moved to the target master key.',
    registers: [registry],
  });
  const total = new Gauge({
    name: 'strongroom_dek_migration_total',
    help: 'DEKs that the current or last DEK migration run has to move.',
    registers: [registry],
  });
  const running = new Gauge({
    name: 'strongroom_dek_migration_running',
    help: 'Whether a DEK migration run is in progress (1) or not (0).',
    registers: [registry],
  });

  return {
    setProgress(progress) {
      migrated.set(progress.migrated);
      total.set(progress.total);
      running.set(progress.running ? 1 : 0);
    },
  };
}

/** Updates the audit chain checkpoint metrics. */
export interface AuditCheckpointMetrics {
  /** Records a checkpoint signed over the audit chain up to the event with sequence `sequence`. */
  checkpointWritten(sequence: number, at: Date): void;
  /** Records a checkpoint that could not be signed or stored. */
  checkpointFailed(): void;
}

/**
 * Registers the audit chain checkpoint metrics and returns their updater. Like the migration
 * metrics, the checkpoint code registers them once it exists.
 */
export function registerAuditCheckpointMetrics(registry: Registry): AuditCheckpointMetrics {
  const written = new Counter({
    name: 'strongroom_audit_checkpoints_total',
    help: 'Audit chain checkpoints signed and stored.',
    registers: [registry],
  });
  const failed = new Counter({
    name: 'strongroom_audit_checkpoint_failures_total',
    help: 'Audit chain checkpoints that could not be signed or stored.',
    registers: [registry],
  });
  const lastSequence = new Gauge({
    name: 'strongroom_audit_checkpoint_last_sequence',
    help: 'Sequence number of the last audit event covered by a checkpoint.',
    registers: [registry],
  });
  const lastTime = new Gauge({
    name: 'strongroom_audit_checkpoint_last_timestamp_seconds',
    help: 'Unix time of the last audit chain checkpoint.',
    registers: [registry],
  });

  return {
    checkpointWritten(sequence, at) {
      written.inc();
      lastSequence.set(sequence);
      lastTime.set(at.getTime() / 1000);
    },
    checkpointFailed() {
      failed.inc();
    },
  };
}
