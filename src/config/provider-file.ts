import { isAbsolute } from 'node:path';
import { StrongroomError } from '../errors.js';

/** The slot that the PKCS#11 provider file selects: by slot ID, slot index or token label. */
export type SlotSelector =
  { by: 'id'; id: number } | { by: 'index'; index: number } | { by: 'tokenLabel'; label: string };

/** The SunPKCS11 provider file, as far as Strongroom uses it. */
export interface ProviderFile {
  path: string;
  name: string;
  library: string;
  description: string;
  slot: SlotSelector;
  /** Keywords that Java accepts and that Strongroom accepts without acting on them. */
  ignored: string[];
}

/** Keywords of Java's SunPKCS11 configuration that Strongroom reads. */
const SUPPORTED = new Set([
  'name',
  'library',
  'description',
  'slot',
  'slotListIndex',
  'tokenLabel',
]);

/** Other SunPKCS11 keywords (JDK 17 to 26): valid for Java, without effect in Strongroom. */
const JAVA_ONLY = new Set([
  'enabledMechanisms',
  'disabledMechanisms',
  'attributes',
  'handleStartupErrors',
  'insertionCheckInterval',
  'showInfo',
  'keyStoreCompatibilityMode',
  'explicitCancel',
  'omitInitialize',
  'allowSingleThreadedModules',
  'functionList',
  'destroyTokenAfterLogout',
  'cleaner.shortInterval',
  'cleaner.longInterval',
  'nssUseSecmod',
  'nssDbMode',
  'nssSecmodDirectory',
  'nssModule',
  'nssLibraryDirectory',
  'nssNetscapeDbWorkaround',
  'nssArgs',
  'nssUseSecmodTrust',
  'nssOptimizeSpace',
]);

/**
 * Parses a SunPKCS11 provider file: `keyword = value` lines, `#` comments, values optionally in
 * double quotes. Unknown and repeated keywords are errors, as in Java. `tokenLabel` is Strongroom's
 * one extension: it selects the token by label, because SoftHSM's slot IDs are random.
 */
export function parseProviderFile(text: string, path: string): ProviderFile {
  const values = new Map<string, { value: string; line: number }>();
  const ignored: string[] = [];
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split(/\r\n|\r|\n/);

  lines.forEach((raw, offset) => {
    const lineNumber = offset + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      return;
    }

    const match = /^([A-Za-z][A-Za-z0-9.]*)\s*=\s*(.*)$/.exec(line);
    if (match === null) {
      throw syntaxError(path, lineNumber, `expected 'keyword = value', found '${line}'`);
    }
    const keyword = match[1] ?? '';
    const value = unquote(match[2] ?? '', path, lineNumber);

    if (!SUPPORTED.has(keyword) && !JAVA_ONLY.has(keyword)) {
      throw syntaxError(
        path,
        lineNumber,
        `unknown keyword '${keyword}'; the keywords Strongroom reads are ${[...SUPPORTED].join(', ')}`,
      );
    }
    if (values.has(keyword) || ignored.includes(keyword)) {
      throw syntaxError(path, lineNumber, `keyword '${keyword}' is set twice; keep one line`);
    }
    if (JAVA_ONLY.has(keyword)) {
      ignored.push(keyword);
      return;
    }
    values.set(keyword, { value, line: lineNumber });
  });

  const library = values.get('library');
  if (library === undefined || library.value === '') {
    throw syntaxError(path, 0, "missing 'library = /absolute/path/of/the/pkcs11/module.so'");
  }
  if (!isAbsolute(library.value)) {
    throw syntaxError(path, library.line, `library '${library.value}' is not an absolute path`);
  }

  return {
    path,
    name: values.get('name')?.value ?? 'PKCS11',
    library: library.value,
    description: values.get('description')?.value ?? '',
    slot: selectSlot(values, path),
    ignored,
  };
}

function selectSlot(
  values: Map<string, { value: string; line: number }>,
  path: string,
): SlotSelector {
  const given = ['slot', 'slotListIndex', 'tokenLabel'].filter((keyword) => values.has(keyword));
  if (given.length > 1) {
    throw syntaxError(
      path,
      0,
      `${given.join(' and ')} are both set; choose one way to select the slot`,
    );
  }

  const slot = values.get('slot');
  if (slot !== undefined) {
    return { by: 'id', id: parseSlotNumber(slot.value, 'slot', path, slot.line) };
  }
  const index = values.get('slotListIndex');
  if (index !== undefined) {
    return { by: 'index', index: parseSlotNumber(index.value, 'slotListIndex', path, index.line) };
  }
  const label = values.get('tokenLabel');
  if (label !== undefined && label.value.trim() !== '') {
    return { by: 'tokenLabel', label: label.value.trim() };
  }
  // Java's default when neither slot nor slotListIndex is given is the first slot in the list.
  return { by: 'index', index: 0 };
}

function parseSlotNumber(value: string, keyword: string, path: string, line: number): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw syntaxError(path, line, `${keyword} '${value}' is not a non-negative integer`);
  }
  return Number(value);
}

function unquote(value: string, path: string, line: number): string {
  if (!value.startsWith('"')) {
    return value;
  }
  if (value.length < 2 || !value.endsWith('"')) {
    throw syntaxError(path, line, `value ${value} has no closing double quote`);
  }
  return value.slice(1, -1);
}

function syntaxError(path: string, line: number, problem: string): StrongroomError {
  const where = line > 0 ? `${path}:${line}` : path;
  return new StrongroomError('SR_CONFIG_SYNTAX', `${where}: ${problem}.`, {
    details: { path, line },
  });
}
