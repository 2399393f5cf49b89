import type { MachineInfo } from './machine.js';
import type { BenchmarkReport } from './types.js';

type Alignment = 'left' | 'right';

/** Renders docs/benchmarks.md from the machine description and the reports of one run. */
export function renderBenchmarkPage(
  machine: MachineInfo,
  date: Date,
  reports: readonly BenchmarkReport[],
): string {
  const environment: Record<string, string> = Object.assign(
    {},
    ...reports.map((report) => report.environment),
  );
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (src/bench/run.ts) on ${formatDate(date)}. Each run replaces this`,
    'page, and the numbers come from that single run on the machine below.',
    '',
    '## Machine',
    '',
    ...renderTable(
      ['', ''],
      ['left', 'left'],
      [
        ['CPUs (`nproc`)', String(machine.nproc)],
        ['CPU model', machine.cpuModel],
        ['OS', machine.os],
        ['Node.js', machine.node],
        ['Load average (1 min) at start', machine.loadAverage.toFixed(2)],
        ...Object.entries(environment),
      ],
    ),
    '',
  ];

  for (const report of reports) {
    lines.push(`## ${report.title}`, '');
    for (const paragraph of report.description) {
      lines.push(paragraph, '');
    }

    const rows = report.measurements.map((row) => [
      row.label,
      String(Math.round(row.perSecond)),
      String(row.operations),
      row.seconds.toFixed(2),
      row.method,
    ]);
    lines.push(
      ...renderTable(
        ['measurement', 'per second', 'operations', 'seconds', 'how'],
        ['left', 'right', 'right', 'right', 'left'],
        rows,
      ),
      '',
      ...report.summary.map((line) => `${line}.`),
      '',
    );
  }
  return lines.join('\n');
}

function formatDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Renders a Markdown table with padded columns as Prettier formats it, so the page stays formatted. */
function renderTable(headers: string[], alignments: Alignment[], rows: string[][]): string[] {
  const widths = headers.map((header, column) =>
    Math.max(3, header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const cell = (text: string, column: number): string => {
    const width = widths[column] ?? 3;
    return alignments[column] === 'right' ? text.padStart(width) : text.padEnd(width);
  };
  const separator = widths.map((width, column) =>
    alignments[column] === 'right' ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width),
  );
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;

  return [
    line(headers.map(cell)),
    line(separator),
    ...rows.map((row) => line(headers.map((_, column) => cell(row[column] ?? '', column)))),
  ];
}
