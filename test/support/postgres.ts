// The throwaway PostgreSQL clusters of the tests are made by the same code as the benchmark's.
export * from '../../src/lib/postgres-cluster.js';
