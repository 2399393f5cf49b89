import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { connect } from 'node:net';
import { parseUtimacoConfig, type UtimacoDevice } from '../config/utimaco-ini.js';
import { failedFrom, type CheckResult } from './types.js';

/**
 * Maximum time in ms to wait for a TCP connection to an HSM. A LAN appliance accepts within
 * milliseconds, so a longer wait usually means a firewall drops the packets.
 * NOTE: an estimate for a local network, not measured against an appliance.
 */
export const DEVICE_TIMEOUT_MS = 2000;

/** Tells whether the library file name is Utimaco's R3 PKCS#11 module, which reads CS_PKCS11_R3_CFG. */
export function isUtimacoLibrary(library: string): boolean {
  return /^libcs_pkcs11_R3\.so/.test(basename(library));
}

/**
 * Checks the Utimaco client file: CS_PKCS11_R3_CFG is set, the file is readable and valid, and
 * each device is reachable (a TCP connection for PORT@HOST, an existing device file for PCIe).
 */
export async function checkUtimacoClient(env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const path = env['CS_PKCS11_R3_CFG'];
  if (path === undefined || path === '') {
    return [
      {
        name: 'CS_PKCS11_R3_CFG',
        status: 'failed',
        message: 'CS_PKCS11_R3_CFG is not set, so the Utimaco library cannot find its device list.',
        fix: 'Set CS_PKCS11_R3_CFG=/etc/utimaco/cs_pkcs11_R3.cfg in /etc/environment and in the systemd unit (Environment=).',
      },
    ];
  }

  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    return [
      {
        name: 'CS_PKCS11_R3_CFG',
        status: 'failed',
        message: `${path} (CS_PKCS11_R3_CFG) cannot be read: ${reason}.`,
        fix: 'Point CS_PKCS11_R3_CFG at the Utimaco client file and make it readable by the Strongroom user.',
      },
    ];
  }

  let devices: UtimacoDevice[];
  const results: CheckResult[] = [];
  try {
    const config = parseUtimacoConfig(text, path);
    devices = config.devices;
    results.push({
      name: 'CS_PKCS11_R3_CFG',
      status: config.warnings.length === 0 ? 'ok' : 'warning',
      message:
        config.warnings.length === 0
          ? `${path} lists ${devices.length} device(s) in [${config.section}].`
          : config.warnings.join(' '),
    });
  } catch (error) {
    return [
      { ...failedFrom('CS_PKCS11_R3_CFG', error), fix: 'Correct the line that the message names.' },
    ];
  }

  for (const device of devices) {
    results.push(await checkDevice(device));
  }
  return results;
}

async function checkDevice(device: UtimacoDevice): Promise<CheckResult> {
  const name = `device ${device.text}`;
  if (device.kind === 'pcie') {
    return existsSync(device.path)
      ? { name, status: 'ok', message: `${device.path} exists.` }
      : {
          name,
          status: 'failed',
          message: `PCIe device ${device.path} does not exist.`,
          fix: 'Load the CryptoServer PCIe driver, or correct the Device line.',
        };
  }

  const failure = await probeTcp(device.host, device.port, DEVICE_TIMEOUT_MS);
  if (failure === undefined) {
    return {
      name,
      status: 'ok',
      message: `TCP port ${device.port} on ${device.host} accepts connections.`,
    };
  }
  return {
    name,
    status: 'failed',
    message: `TCP port ${device.port} on ${device.host} does not accept connections: ${failure}.`,
    fix: 'Check that the HSM is running, that the address in the Device line is right and that no firewall blocks the port.',
  };
}

/** Opens and closes a TCP connection. Returns undefined on success, or why it failed. */
export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (failure: string | undefined): void => {
      socket.destroy();
      resolve(failure);
    };
    socket.setTimeout(timeoutMs, () => finish(`timed out after ${timeoutMs} ms`));
    socket.once('connect', () => finish(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  });
}
