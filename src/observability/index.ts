export { createServiceMetrics, type ServiceMetrics } from './service-metrics.js';
export { instrumentProvider } from './instrumented-provider.js';
export { registerProviderMetrics, type ProviderMetrics } from './provider-metrics.js';
export { monitorEventLoop, type EventLoopMonitor } from './event-loop.js';
export { loadMetricsAccess, type MetricsAccess } from './metrics-access.js';
export {
  registerAuditCheckpointMetrics,
  registerDekMigrationMetrics,
  type AuditCheckpointMetrics,
  type DekMigrationMetrics,
} from './progress-metrics.js';
