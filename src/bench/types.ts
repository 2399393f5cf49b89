/** One measured rate, as a row of the benchmark table. */
export interface Measurement {
  label: string;
  /** Operations per second. */
  perSecond: number;
  operations: number;
  seconds: number;
  /** Measurement method: thread, kind of calls, concurrency. */
  method: string;
}

/** Result of one benchmark module: its section of docs/benchmarks.md. */
export interface BenchmarkReport {
  title: string;
  /** Paragraphs that describe what is measured and how to read the numbers. */
  description: string[];
  measurements: Measurement[];
  /** Lines that summarise the run, such as a ratio between measurements. */
  summary: string[];
  /** Facts about the setup, such as the SoftHSM version, shown with the machine. */
  environment: Record<string, string>;
}

/** A benchmark module. run() sets up what it needs in temporary folders and removes it afterwards. */
export interface Benchmark {
  id: string;
  run(): Promise<BenchmarkReport>;
}
