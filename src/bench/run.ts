/**
 * Runs the benchmarks and writes docs/benchmarks.md. Start it with `npm run bench`, which builds
 * first and runs dist/bench/run.js. A new benchmark is a module that exports a Benchmark and is
 * added to the list below.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dekMigrationBenchmark } from './dek-migration.js';
import { hsmWrapBenchmark } from './hsm-wrap.js';
import { describeMachine } from './machine.js';
import { renderBenchmarkPage } from './markdown.js';
import type { Benchmark, BenchmarkReport } from './types.js';

const benchmarks: readonly Benchmark[] = [hsmWrapBenchmark, dekMigrationBenchmark];

const PAGE_PATH = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

async function main(): Promise<void> {
  const machine = describeMachine();
  const reports: BenchmarkReport[] = [];

  for (const benchmark of benchmarks) {
    console.log(`running ${benchmark.id}`);
    const report = await benchmark.run();
    for (const row of report.measurements) {
      console.log(
        `  ${row.label}: ${Math.round(row.perSecond)}/s (${row.operations} in ${row.seconds.toFixed(2)} s; ${row.method})`,
      );
    }
    for (const line of report.summary) {
      console.log(`  ${line}`);
    }
    reports.push(report);
  }

  await writeFile(PAGE_PATH, renderBenchmarkPage(machine, new Date(), reports));
  console.log(`wrote ${PAGE_PATH}`);
}

main().catch((error: unknown) => {
  console.error('benchmark failed:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
