import type { TestProject } from 'vitest/node';

import { findPostgresBinDir, startPostgres } from './postgres.js';

/** The PostgreSQL server of the test run, as the tests receive it through `inject('postgres')`. */
export type TestPostgres =
  | {
      available: true;
      /** URL of a database on the server whose user may create databases. */
      url: string;
      /** Folder of the server's unix socket, or null for a server named by STRONGROOM_TEST_POSTGRES_URL. */
      socketDir: string | null;
    }
  | { available: false; reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres;
  }
}

/**
 * Starts one throwaway PostgreSQL server for the whole run, or uses the server that
 * STRONGROOM_TEST_POSTGRES_URL names, and stops it when the run ends. Without PostgreSQL binaries
 * the run fails when CI is set, and otherwise the PostgreSQL variants of the suites are skipped.
 */
export default async function setup(
  project: TestProject,
): Promise<(() => Promise<void>) | undefined> {
  const externalUrl = process.env.STRONGROOM_TEST_POSTGRES_URL;
  if (externalUrl !== undefined && externalUrl !== '') {
    project.provide('postgres', { available: true, url: externalUrl, socketDir: null });
    return undefined;
  }

  const binDir = findPostgresBinDir();
  if (binDir === undefined) {
    const reason =
      'PostgreSQL binaries (initdb, pg_ctl) not found. Install the Debian package postgresql, set ' +
      'STRONGROOM_TEST_POSTGRES_BIN to their folder, or set STRONGROOM_TEST_POSTGRES_URL to a server';
    if (process.env.CI !== undefined && process.env.CI !== '') {
      throw new Error(`${reason}. CI is set, so the PostgreSQL tests must run.`);
    }
    console.warn(`Skipping the PostgreSQL variants of the tests: ${reason}.`);
    project.provide('postgres', { available: false, reason });
    return undefined;
  }

  const server = await startPostgres(binDir);
  project.provide('postgres', { available: true, url: server.url, socketDir: server.socketDir });

  // A run that ends by a signal skips the teardown, which would leave the server running, so the
  // server is also stopped on exit and on the usual termination signals. The listeners go first
  // because Vitest's own handlers call process.exit, after which later listeners never run.
  // SIGKILL still leaves the server running.
  const stopOnExit = (): void => server.stopNow();
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    removeListeners();
    server.stopNow();
    // Ends the process as the signal would have, unless another listener handles the signal.
    if (process.listenerCount(signal) === 0) {
      process.kill(process.pid, signal);
    }
  };
  const removeListeners = (): void => {
    process.off('exit', stopOnExit);
    for (const signal of STOP_SIGNALS) {
      process.off(signal, stopOnSignal);
    }
  };
  process.prependOnceListener('exit', stopOnExit);
  for (const signal of STOP_SIGNALS) {
    process.prependOnceListener(signal, stopOnSignal);
  }

  return async () => {
    removeListeners();
    await server.stop();
  };
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
