/**
 * Runs the benchmarks and writes docs/benchmarks.md. Start it with `npm run bench`, which builds
 * first and runs dist/bench/run.js. A new benchmark is a module that exports a Benchmark and is
 * added to the list below.
 *
 * `npm run bench -- ID...` runs only the benchmarks with those ids (the `id` of each module
 * below) and prints their results without writing the page, so that the page always shows one
 * whole run.
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
  const requested = process.argv.slice(2);
  const unknown = requested.filter((id) => !benchmarks.some((benchmark) => benchmark.id === id));
  if (unknown.length > 0) {
    const known = benchmarks.map((benchmark) => benchmark.id).join(', ');
    throw new Error(`unknown benchmark id ${unknown.join(', ')}; the ids are ${known}`);
  }
  const selected =
    requested.length === 0
      ? benchmarks
      : benchmarks.filter((benchmark) => requested.includes(benchmark.id));

  const machine = describeMachine();
  const reports: BenchmarkReport[] = [];

  for (const benchmark of selected) {
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
    console.log(`not writing ${PAGE_PATH}, because only some benchmarks ran`);
    return;
  }
  await writeFile(PAGE_PATH, renderBenchmarkPage(machine, new Date(), reports));
  console.log(`wrote ${PAGE_PATH}`);
}

main().catch((error: unknown) => {
  console.error('benchmark failed:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
