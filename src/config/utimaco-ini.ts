import { isIP } from 'node:net';
import { StrongroomError } from '../errors.js';

/** One HSM that the Utimaco PKCS#11 client connects to. */
export type UtimacoDevice =
  | { kind: 'network'; port: number; host: string; text: string; line: number }
  | { kind: 'pcie'; path: string; text: string; line: number };

/** The Utimaco client file named by CS_PKCS11_R3_CFG, as far as Strongroom diagnoses it. */
export interface UtimacoConfig {
  path: string;
  /** Logging level of the client library, 0 (none) to 4 (debug). */
  logging: number | undefined;
  logpath: string | undefined;
  /** Logsize as written, for example `10mb`. */
  logsize: string | undefined;
  /** Timeout keys with their values in milliseconds, from any section. */
  timeouts: Record<string, number>;
  section: 'CryptoServer' | 'HSMCluster';
  /** Devices in the order the client tries them. The later ones are failover devices. */
  devices: UtimacoDevice[];
  /** Valid lines that Strongroom does not check, such as unknown keys and sections. */
  warnings: string[];
}

/** Keys of the Utimaco client that take a time in milliseconds. */
const TIMEOUT_KEYS = ['Timeout', 'ConnectionTimeout', 'CommandTimeout', 'FallbackInterval'];

/** Other keys of the Utimaco R3 client, which Strongroom accepts without checking their values. */
const OTHER_KEYS = [
  'KeepAlive',
  'KeepSessionAlive',
  'SlotCount',
  'SlotMultiSession',
  'KeyStore',
  'KeysExternal',
  'AppTimeout',
  'AppRefreshTimeout',
  'EndSessionOnShutdown',
];

const DEVICE_SECTIONS = ['CryptoServer', 'HSMCluster'] as const;

type Section = 'Global' | (typeof DEVICE_SECTIONS)[number] | 'unknown';

/**
 * Parses the Utimaco PKCS#11 client file (INI syntax): `[Global]` with Logging, Logpath, Logsize
 * and timeouts, then one `[CryptoServer]` or `[HSMCluster]` section with Device lines. Several
 * devices, separated by commas or on repeated Device lines, are failover devices. Lines starting
 * with `#` or `;` are comments. The first error throws SR_CONFIG_SYNTAX with file, line, key and
 * what was expected. Unknown keys and sections become warnings.
 */
export function parseUtimacoConfig(text: string, path: string): UtimacoConfig {
  const config: UtimacoConfig = {
    path,
    logging: undefined,
    logpath: undefined,
    logsize: undefined,
    timeouts: {},
    section: 'CryptoServer',
    devices: [],
    warnings: [],
  };
  const seen = new Set<string>();
  const deviceSections: string[] = [];
  let section: Section | undefined;

  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split(/\r\n|\r|\n/);
  lines.forEach((raw, offset) => {
    const line = offset + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      return;
    }

    const header = /^\[([^\]]*)\]$/.exec(trimmed);
    if (header !== null) {
      section = readSection(header[1]?.trim() ?? '', config, path, line);
      if (section === 'CryptoServer' || section === 'HSMCluster') {
        deviceSections.push(section);
      }
      return;
    }

    const entry = /^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (entry === null) {
      throw syntaxError(path, line, `expected '[Section]' or 'Key = value', found '${trimmed}'`);
    }
    if (section === undefined) {
      throw syntaxError(
        path,
        line,
        `key '${entry[1] ?? ''}' comes before any section; put it under [Global], [CryptoServer] or [HSMCluster]`,
      );
    }
    readEntry(config, section, canonicalKey(entry[1] ?? ''), unquote(entry[2] ?? ''), line, seen);
  });

  if (deviceSections.length > 1 && new Set(deviceSections).size > 1) {
    throw syntaxError(
      path,
      0,
      'both [CryptoServer] and [HSMCluster] are present; keep one of them, because the client reads devices from one section',
    );
  }
  if (config.devices.length === 0) {
    throw syntaxError(
      path,
      0,
      'no Device is set; add a [CryptoServer] section with a line such as Device = 3001@10.0.0.5 or Device = /dev/cs2',
    );
  }
  return config;
}

function readSection(name: string, config: UtimacoConfig, path: string, line: number): Section {
  const known = ['Global', ...DEVICE_SECTIONS].find(
    (candidate) => candidate.toLowerCase() === name.toLowerCase(),
  );
  if (known === undefined) {
    config.warnings.push(
      `${path}:${line}: section [${name}] is unknown to Strongroom and is not checked.`,
    );
    return 'unknown';
  }
  if (known !== 'Global') {
    config.section = known as UtimacoConfig['section'];
  }
  return known as Section;
}

function readEntry(
  config: UtimacoConfig,
  section: Section,
  key: string,
  value: string,
  line: number,
  seen: Set<string>,
): void {
  const { path } = config;
  if (section === 'unknown') {
    return;
  }

  if (key === 'Device' && section !== 'Global') {
    config.devices.push(...parseDevices(value, path, line));
    return;
  }

  const qualified = `${section}.${key}`;
  if (seen.has(qualified)) {
    throw syntaxError(path, line, `key '${key}' is set twice in [${section}]. Keep one line`);
  }
  seen.add(qualified);

  if (TIMEOUT_KEYS.includes(key)) {
    config.timeouts[key] = parseInteger(value, key, 0, 86_400_000, path, line);
    return;
  }

  if (section === 'Global' && key === 'Logging') {
    config.logging = parseInteger(value, key, 0, 4, path, line);
  } else if (section === 'Global' && key === 'Logpath') {
    config.logpath = value;
  } else if (section === 'Global' && key === 'Logsize') {
    config.logsize = parseLogsize(value, path, line);
  } else if (!OTHER_KEYS.includes(key)) {
    config.warnings.push(
      `${path}:${line}: key '${key}' in [${section}] is unknown to Strongroom and is not checked.`,
    );
  }
}

/**
 * Parses one Device value: devices separated by commas, each `PORT@HOST` (host name, IPv4
 * address or IPv6 address in brackets) or a PCIe device path such as /dev/cs2.
 */
export function parseDevices(value: string, path: string, line: number): UtimacoDevice[] {
  if (value.trim() === '') {
    throw syntaxError(
      path,
      line,
      "key 'Device' is empty; expected PORT@HOST or a PCIe device path such as /dev/cs2",
    );
  }
  return value.split(',').map((part) => parseDevice(part.trim(), path, line));
}

function parseDevice(text: string, path: string, line: number): UtimacoDevice {
  const fail = (problem: string): StrongroomError =>
    syntaxError(path, line, `key 'Device' has the invalid device '${text}': ${problem}`);

  if (text === '') {
    throw fail('the device is empty. Remove the extra comma between devices');
  }
  if (text.startsWith('/')) {
    if (!/^\/dev\/[A-Za-z0-9_]+$/.test(text)) {
      throw fail('this is not a PCIe device path. Expected a path such as /dev/cs2');
    }
    return { kind: 'pcie', path: text, text, line };
  }

  const at = text.indexOf('@');
  // NOTE: a bare host without PORT@ is rejected. Whether Utimaco's client accepts it with a
  // default port was not checked against its documentation.
  if (at < 0) {
    throw fail('the @ is missing. Expected PORT@HOST, for example 3001@10.0.0.5');
  }
  const portText = text.slice(0, at);
  const host = text.slice(at + 1);
  if (!/^\d{1,5}$/.test(portText)) {
    throw fail(
      `the port '${portText}' is not a decimal number. Expected PORT@HOST such as 3001@10.0.0.5`,
    );
  }
  const port = Number(portText);
  if (port < 1 || port > 65_535) {
    throw fail(`the port ${port} is outside 1 to 65535`);
  }
  return { kind: 'network', port, host: parseHost(host, fail), text, line };
}

function parseHost(host: string, fail: (problem: string) => StrongroomError): string {
  if (host.startsWith('[')) {
    const inner = host.endsWith(']') ? host.slice(1, -1) : '';
    if (isIP(inner) !== 6) {
      throw fail(`the host '${host}' is not an IPv6 address in brackets`);
    }
    return inner;
  }
  if (isIP(host) === 6) {
    throw fail(`the IPv6 address '${host}' needs brackets. Write PORT@[${host}]`);
  }
  if (/^[\d.]+$/.test(host)) {
    if (isIP(host) !== 4) {
      throw fail(`the host '${host}' is not a valid IPv4 address`);
    }
    return host;
  }

  // Host names as RFC 1123 section 2.1 allows them: labels of letters, digits and hyphens.
  const label = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (host === '' || host.length > 253 || !host.split('.').every((part) => label.test(part))) {
    throw fail(
      `the host '${host}' is not a host name, an IPv4 address or an IPv6 address in brackets`,
    );
  }
  return host;
}

function parseInteger(
  value: string,
  key: string,
  min: number,
  max: number,
  path: string,
  line: number,
): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw syntaxError(
      path,
      line,
      `key '${key}' is '${value}'; expected an integer from ${min} to ${max}`,
    );
  }
  return number;
}

function parseLogsize(value: string, path: string, line: number): string {
  if (!/^\d+\s*(?:[kmg]b?)?$/i.test(value)) {
    throw syntaxError(
      path,
      line,
      `key 'Logsize' is '${value}'; expected a size such as 10mb, 512kb or 1048576`,
    );
  }
  return value;
}

/** Matches keys without regard to case, so that a lowercase key is checked rather than reported as unknown. */
function canonicalKey(key: string): string {
  const known = ['Device', 'Logging', 'Logpath', 'Logsize', ...TIMEOUT_KEYS, ...OTHER_KEYS];
  return known.find((candidate) => candidate.toLowerCase() === key.toLowerCase()) ?? key;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"')
    ? value.slice(1, -1)
    : value;
}

function syntaxError(path: string, line: number, problem: string): StrongroomError {
  const where = line > 0 ? `${path}:${line}` : path;
  return new StrongroomError('SR_CONFIG_SYNTAX', `${where}: ${problem}.`, {
    details: { path, line },
  });
}
