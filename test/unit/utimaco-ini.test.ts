import { describe, expect, it } from 'vitest';
import { parseUtimacoConfig } from '../../src/config/utimaco-ini.js';
import { StrongroomError } from '../../src/errors.js';

const PATH = '/etc/utimaco/cs_pkcs11_R3.cfg';

function parseError(text: string): StrongroomError {
  try {
    parseUtimacoConfig(text, PATH);
  } catch (error) {
    return error as StrongroomError;
  }
  throw new Error('expected the Utimaco file to be rejected');
}

describe('Utimaco client file', () => {
  it('reads the layout of the integration guide', () => {
    const config = parseUtimacoConfig(
      '[Global]\nLogging = 1\nLogpath = /var/log/utimaco\n[CryptoServer]\nDevice = 3001@10.10.10.20\n',
      PATH,
    );
    expect(config.logging).toBe(1);
    expect(config.logpath).toBe('/var/log/utimaco');
    expect(config.section).toBe('CryptoServer');
    expect(config.devices).toEqual([
      { kind: 'network', port: 3001, host: '10.10.10.20', text: '3001@10.10.10.20', line: 5 },
    ]);
    expect(config.warnings).toEqual([]);
  });

  it.each([
    ['host name', '3001@hsm-1.example.net', { port: 3001, host: 'hsm-1.example.net' }],
    ['IPv4 address', '4031@192.0.2.7', { port: 4031, host: '192.0.2.7' }],
    ['IPv6 address', '3001@[2001:db8::5]', { port: 3001, host: '2001:db8::5' }],
    ['quoted value', '"3001@192.0.2.7"', { port: 3001, host: '192.0.2.7' }],
  ])('reads a device with a %s', (_name, value, expected) => {
    const config = parseUtimacoConfig(`[CryptoServer]\nDevice = ${value}\n`, PATH);
    expect(config.devices).toHaveLength(1);
    expect(config.devices[0]).toMatchObject({ kind: 'network', ...expected });
  });

  it('reads a PCIe device path', () => {
    const config = parseUtimacoConfig('[CryptoServer]\nDevice = /dev/cs2\n', PATH);
    expect(config.devices).toEqual([{ kind: 'pcie', path: '/dev/cs2', text: '/dev/cs2', line: 2 }]);
  });

  it('reads failover devices separated by commas', () => {
    const config = parseUtimacoConfig(
      '[CryptoServer]\nDevice = 3001@192.0.2.1, 3001@192.0.2.2\n',
      PATH,
    );
    expect(config.devices.map((device) => device.text)).toEqual([
      '3001@192.0.2.1',
      '3001@192.0.2.2',
    ]);
  });

  it('reads repeated Device lines of a cluster', () => {
    const config = parseUtimacoConfig(
      '[HSMCluster]\nDevice = 3001@192.0.2.1\nDevice = 3001@192.0.2.2\nFallbackInterval = 3600\n',
      PATH,
    );
    expect(config.section).toBe('HSMCluster');
    expect(config.devices.map((device) => device.line)).toEqual([2, 3]);
    expect(config.timeouts).toEqual({ FallbackInterval: 3600 });
  });

  it('skips comments and accepts CRLF and a BOM', () => {
    const text =
      '\uFEFF# client settings\r\n; logging\r\n[Global]\r\nLogging = 4\r\nLogsize = 10mb\r\n' +
      'Timeout = 600000\r\nConnectionTimeout = 5000\r\n\r\n[CryptoServer]\r\nDevice = /dev/cs0\r\n';
    const config = parseUtimacoConfig(text, PATH);
    expect(config.logging).toBe(4);
    expect(config.logsize).toBe('10mb');
    expect(config.timeouts).toEqual({ Timeout: 600000, ConnectionTimeout: 5000 });
    expect(config.devices[0]).toMatchObject({ kind: 'pcie', line: 10 });
  });

  it('matches keys and sections without regard to case', () => {
    const config = parseUtimacoConfig(
      '[global]\nlogging = 2\n[cryptoserver]\ndevice = /dev/cs1\n',
      PATH,
    );
    expect(config.logging).toBe(2);
    expect(config.devices).toHaveLength(1);
  });

  it('warns about unknown keys and sections', () => {
    const config = parseUtimacoConfig(
      '[Global]\nLogLevel = 3\n[Vendor]\nAnything = 1\n[CryptoServer]\nDevice = /dev/cs2\n',
      PATH,
    );
    expect(config.warnings).toEqual([
      `${PATH}:2: key 'LogLevel' in [Global] is unknown to Strongroom and is not checked.`,
      `${PATH}:3: section [Vendor] is unknown to Strongroom and is not checked.`,
    ]);
  });

  const malformed: Array<[string, string, number, string]> = [
    [
      "the guide's example with a letter in the port",
      '[CryptoServer]\nDevice = 3001T@10.10.10.10,3001@10.10.10.20\n',
      2,
      "key 'Device' has the invalid device '3001T@10.10.10.10': the port '3001T' is not a decimal number. Expected PORT@HOST such as 3001@10.0.0.5.",
    ],
    [
      'a device without @',
      '[CryptoServer]\nDevice = 10.0.0.5\n',
      2,
      'the @ is missing. Expected PORT@HOST, for example 3001@10.0.0.5',
    ],
    ['a port of 0', '[CryptoServer]\nDevice = 0@10.0.0.5\n', 2, 'outside 1 to 65535'],
    ['a port above 65535', '[CryptoServer]\nDevice = 70000@h\n', 2, 'outside 1 to 65535'],
    [
      'an IPv4 address out of range',
      '[CryptoServer]\nDevice = 3001@10.0.0.256\n',
      2,
      'not a valid IPv4 address',
    ],
    [
      'IPv6 without brackets',
      '[CryptoServer]\nDevice = 3001@2001:db8::5\n',
      2,
      'Write PORT@[2001:db8::5]',
    ],
    [
      'bad IPv6 in brackets',
      '[CryptoServer]\nDevice = 3001@[2001:zz::5]\n',
      2,
      'not an IPv6 address in brackets',
    ],
    ['a host with an underscore', '[CryptoServer]\nDevice = 3001@hsm_1\n', 2, 'not a host name'],
    ['an empty host', '[CryptoServer]\nDevice = 3001@\n', 2, "the host ''"],
    [
      'an empty device between commas',
      '[CryptoServer]\nDevice = 3001@h,,3001@i\n',
      2,
      'Remove the extra comma',
    ],
    ['an empty Device', '[CryptoServer]\nDevice =\n', 2, "key 'Device' is empty"],
    [
      'a device path outside /dev',
      '[CryptoServer]\nDevice = /tmp/cs2\n',
      2,
      'not a PCIe device path',
    ],
    [
      'Logging above 4',
      '[Global]\nLogging = 5\n[CryptoServer]\nDevice = /dev/cs2\n',
      2,
      "key 'Logging' is '5'; expected an integer from 0 to 4",
    ],
    ['Logging as a word', '[Global]\nLogging = debug\n', 2, 'expected an integer from 0 to 4'],
    ['a negative timeout', '[Global]\nTimeout = -1\n', 2, "key 'Timeout' is '-1'"],
    [
      'a Logsize with a bad unit',
      '[Global]\nLogsize = 10 parsecs\n',
      2,
      'expected a size such as 10mb',
    ],
    ['a key before any section', 'Logging = 1\n', 1, 'comes before any section'],
    [
      'a line without =',
      '[Global]\nLogging 1\n',
      2,
      "expected '[Section]' or 'Key = value', found 'Logging 1'",
    ],
    [
      'a key set twice',
      '[Global]\nLogging = 1\nlogging = 2\n',
      3,
      "key 'Logging' is set twice in [Global]. Keep one line.",
    ],
  ];

  it.each(malformed)('rejects %s', (_name, text, line, problem) => {
    const error = parseError(text);
    expect(error.code).toBe('SR_CONFIG_SYNTAX');
    expect(error.message).toContain(`${PATH}:${line}: `);
    expect(error.message).toContain(problem);
    expect(error.details).toEqual({ path: PATH, line });
  });

  it('rejects both device sections', () => {
    const error = parseError('[CryptoServer]\nDevice = /dev/cs2\n[HSMCluster]\nDevice = 3001@h\n');
    expect(error.code).toBe('SR_CONFIG_SYNTAX');
    expect(error.message).toBe(
      `${PATH}: both [CryptoServer] and [HSMCluster] are present; keep one of them, because the client reads devices from one section.`,
    );
  });

  it('rejects a file without devices', () => {
    const error = parseError('[Global]\nLogging = 1\n');
    expect(error.code).toBe('SR_CONFIG_SYNTAX');
    expect(error.message).toContain(`${PATH}: no Device is set`);
  });
});
