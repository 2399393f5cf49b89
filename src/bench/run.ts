/**
 * Runs the benchmarks and writes docs/benchmarks.md. Start it with `npm run bench`, which builds
 * first and runs dist/bench/run.js. `npm run bench -- ID...` runs only the benchmarks with those
 * ids and prints their results without writing the page. A new benchmark is a module that exports
 * a Benchmark and is added to the list below.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dekMigrationBenchmark } from './dek-migration.js';
import { envelopeBenchmark } from './envelope.js';
import { hsmWrapBenchmark } from './hsm-wrap.js';
import { describeMachine } from './machine.js';
import { renderBenchmarkPage } from './markdown.js';
import { serviceBenchmark } from './service.js';
import type { Benchmark, BenchmarkReport } from './types.js';

const benchmarks: readonly Benchmark[] = [
  hsmWrapBenchmark,
  dekMigrationBenchmark,
  envelopeBenchmark,
  serviceBenchmark,
];

const PAGE_PATH = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

async function main(): Promise<void> {
  const machine = describeMachine();
  const reports: BenchmarkReport[] = [];
  const requested = process.argv.slice(2);
  const unknown = requested.filter((id) => !benchmarks.some((benchmark) => benchmark.id === id));
  if (unknown.length > 0) {
    const ids = benchmarks.map((benchmark) => benchmark.id).join(', ');
    throw new Error(`unknown benchmark ${unknown.join(', ')}; the benchmarks are ${ids}`);
  }

  for (const benchmark of benchmarks) {
    if (requested.length > 0 && !requested.includes(benchmark.id)) {
      continue;
    }
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

  if (requested.length > 0) {
    console.log(`not writing ${PAGE_PATH}: it is written only when every benchmark runs`);
    return;
  }
  await writeFile(PAGE_PATH, renderBenchmarkPage(machine, new Date(), reports));
  console.log(`wrote ${PAGE_PATH}`);
}

main().catch((error: unknown) => {
  console.error('benchmark failed:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
