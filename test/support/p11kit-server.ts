/**
 * A network HSM stand-in for tests: `p11-kit server` exports one SoftHSM token over a unix socket,
 * and p11-kit-client.so reaches it through the address in P11_KIT_SERVER_ADDRESS. Stopping the
 * server is an HSM outage, and starting it again is the recovery.
 *
 * p11-kit 0.24 (Debian 12) runs one `p11-kit-remote` child per client connection, and that child
 * keeps serving its connection when only the listening server ends. The server therefore runs in a
 * process group of its own, and stop() kills the whole group with SIGKILL, as a crash or a power
 * cut would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SoftHsmFixture } from './softhsm.js';

/** Paths where distributions install p11-kit's RPC client module, Debian's first. */
const CLIENT_MODULE_PATHS = [
  '/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so',
  '/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so',
  '/usr/lib64/pkcs11/p11-kit-client.so',
  '/usr/lib/pkcs11/p11-kit-client.so',
];

/** How long start() waits for the socket, and stop() for the processes to end (milliseconds). */
const START_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;

/**
 * Process groups of servers that are running, killed when the test process exits.
 * NOTE: 'exit' does not fire when a signal kills the test process (an aborted vitest run). A server
 * left behind that way shows its strongroom-p11kit-* socket path in `ps`.
 */
const runningGroups = new Set<number>();
process.once('exit', () => {
  for (const group of runningGroups) {
    killGroup(group);
  }
});

/** A `p11-kit server` in front of one SoftHSM token. */
export interface P11KitServer {
  /** Absolute path of p11-kit-client.so, the module that Strongroom loads. */
  clientModule: string;
  socketPath: string;
  /** The value of P11_KIT_SERVER_ADDRESS, for example `unix:path=/tmp/x/p11.sock`. */
  address: string;
  /** Environment variables that a client process or worker thread needs, to merge into its env. */
  clientEnv: { P11_KIT_SERVER_ADDRESS: string };
  /** Process ID of the listening server, or undefined while it is stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts the server and resolves once its socket accepts connections. */
  start(): Promise<void>;
  /** Kills the server and every connection process it started, and waits until they are gone. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and removes its folder. Safe to call more than once. */
  cleanup(): Promise<void>;
}

/** Returns the path of p11-kit-client.so, or undefined when the p11-kit-modules package is missing. */
export function findP11KitClientModule(): string | undefined {
  return CLIENT_MODULE_PATHS.find((path) => existsSync(path));
}

/**
 * Tells whether `p11-kit server` and p11-kit-client.so are installed. When they are not, the tests
 * that need them are skipped with a message, except under CI (CI set), where that fails the run.
 */
export function p11KitAvailable(): boolean {
  const serverRuns = spawnSync('p11-kit', ['server', '--help'], { stdio: 'ignore' }).status === 0;
  if (serverRuns && findP11KitClientModule() !== undefined) {
    return true;
  }

  const message = 'the network HSM tests need the Debian packages p11-kit and p11-kit-modules';
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') {
    throw new Error(`${message}, and CI is set, so they must not be skipped`);
  }
  console.warn(`skipping network HSM tests: ${message} (apt-get install p11-kit p11-kit-modules)`);
  return false;
}

/**
 * Starts `p11-kit server` for the fixture's token in a new temporary folder. The server gets the
 * fixture's SOFTHSM2_CONF in its own environment, so the caller's environment is left unchanged.
 */
export async function startP11KitServer(softHsm: SoftHsmFixture): Promise<P11KitServer> {
  const clientModule = findP11KitClientModule();
  if (clientModule === undefined) {
    throw new Error('p11-kit-client.so not found; install the p11-kit-modules package');
  }

  const directory = await mkdtemp(join(tmpdir(), 'strongroom-p11kit-'));
  const socketPath = join(directory, 'p11.sock');
  const address = `unix:path=${socketPath}`;
  const args = [
    'server',
    '--foreground',
    '--provider',
    softHsm.library,
    '--name',
    socketPath,
    `pkcs11:token=${encodeURIComponent(softHsm.tokenLabel)}`,
  ];
  const env = { ...process.env, SOFTHSM2_CONF: softHsm.configPath };

  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    if (child !== undefined) {
      return;
    }
    // A server that was killed leaves its socket file behind.
    await rm(socketPath, { force: true });
    output = '';
    const started = spawn('p11-kit', args, {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    started.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child = started;
    if (started.pid !== undefined) {
      runningGroups.add(started.pid);
    }
    await waitForSocket(started, socketPath, () => output);
  };

  const stop = async (): Promise<void> => {
    const stopping = child;
    child = undefined;
    if (stopping?.pid === undefined) {
      return;
    }
    const group = stopping.pid;
    const exited = stopping.exitCode !== null || stopping.signalCode !== null;
    const exit = exited
      ? Promise.resolve()
      : new Promise((resolve) => stopping.once('exit', resolve));
    killGroup(group);
    await exit;
    await waitUntilGroupGone(group);
    runningGroups.delete(group);
  };

  await start();
  return {
    clientModule,
    socketPath,
    address,
    clientEnv: { P11_KIT_SERVER_ADDRESS: address },
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    cleanup: async () => {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Waits until the socket accepts a connection, or fails with the server's output. */
async function waitForSocket(
  child: ChildProcess,
  socketPath: string,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`p11-kit server exited (${child.exitCode ?? child.signalCode}): ${output()}`);
    }
    if (existsSync(socketPath) && (await accepts(socketPath))) {
      return;
    }
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(
    `p11-kit server did not listen on ${socketPath} within ${START_TIMEOUT_MS} ms: ${output()}`,
  );
}

/**
 * Tells whether a unix socket accepts a connection. The probe connection closes without a byte,
 * which p11-kit server treats as a client that went away.
 */
function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw error;
    }
  }
}

/**
 * Waits until no live process is left in the group. A killed process closes its sockets at once,
 * but a reparented zombie can stay in the group until init reaps it, so zombies do not count.
 */
async function waitUntilGroupGone(group: number): Promise<void> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (liveMembers(group).length > 0) {
    if (Date.now() > deadline) {
      throw new Error(
        `processes ${liveMembers(group).join(', ')} of p11-kit server group ${group} are still running`,
      );
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Lists the process IDs in a process group that are not zombies, from /proc (Linux only). */
function liveMembers(group: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // The process ended while the folder was read.
    }
    // The command name in brackets can contain blanks, so the fields are counted after it: state, ppid, pgrp.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === group && fields[0] !== 'Z') {
      members.push(Number(entry));
    }
  }
  return members;
}
