/** A syslog message split into the parts of RFC 5424, section 6, with SD-PARAM values unescaped. */
export interface ParsedSyslog {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  elements: Array<{ id: string; params: Array<[string, string]> }>;
  msg: string;
}

const NIL_OR = (length: number) => `(-|[\\x21-\\x7e]{1,${length}})`;
/** HEADER = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID, then SP. */
const HEADER = new RegExp(
  `^<(\\d{1,3})>([1-9]\\d{0,2}) ` +
    `(-|\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,6})?(?:Z|[+-]\\d{2}:\\d{2})) ` +
    `${NIL_OR(255)} ${NIL_OR(48)} ${NIL_OR(128)} ${NIL_OR(32)} `,
);
/** SD-NAME: 1 to 32 PRINTUSASCII except '=', SP, ']' and '"'. */
const SD_NAME = /^[\x21-\x7e]{1,32}$/;

/**
 * Parses a message by the ABNF of RFC 5424 and throws, naming the position, at the first
 * character that the grammar does not allow. PARAM-VALUE must escape '"', '\' and ']'.
 */
export function parseRfc5424(message: string): ParsedSyslog {
  const header = HEADER.exec(message);
  if (header === null) {
    throw new Error(`the header does not match RFC 5424: ${message.slice(0, 120)}`);
  }
  const pri = Number(header[1]);
  if (pri > 191) {
    throw new Error(`PRIVAL ${pri} is above 191`);
  }

  let position = header[0].length;
  const elements: ParsedSyslog['elements'] = [];
  if (message[position] === '-') {
    position += 1;
  } else {
    while (message[position] === '[') {
      const { element, end } = parseElement(message, position + 1);
      elements.push(element);
      position = end;
    }
    if (elements.length === 0) {
      throw new Error(`STRUCTURED-DATA expected at ${position}`);
    }
  }

  let msg = '';
  if (position < message.length) {
    if (message[position] !== ' ') {
      throw new Error(`SP expected after STRUCTURED-DATA at ${position}`);
    }
    msg = message.slice(position + 1);
  }
  return {
    pri,
    version: Number(header[2]),
    timestamp: header[3]!,
    hostname: header[4]!,
    appName: header[5]!,
    procId: header[6]!,
    msgId: header[7]!,
    elements,
    msg,
  };
}

function parseElement(
  message: string,
  start: number,
): { element: ParsedSyslog['elements'][number]; end: number } {
  let position = start;
  const readName = (): string => {
    const match = /^[^= \]"]*/.exec(message.slice(position))![0];
    if (!SD_NAME.test(match)) {
      throw new Error(`invalid SD-NAME '${match}' at ${position}`);
    }
    position += match.length;
    return match;
  };

  const id = readName();
  const params: Array<[string, string]> = [];
  while (message[position] === ' ') {
    position += 1;
    const name = readName();
    if (message.slice(position, position + 2) !== '="') {
      throw new Error(`'="' expected after PARAM-NAME ${name} at ${position}`);
    }
    position += 2;
    let value = '';
    for (;;) {
      const character = message[position];
      if (character === undefined) {
        throw new Error(`PARAM-VALUE of ${name} is not closed`);
      }
      if (character === '\\') {
        const next = message[position + 1];
        // A backslash before another character is kept as it is (RFC 5424, section 6.3.3).
        value += next === '"' || next === '\\' || next === ']' ? next : `\\${next ?? ''}`;
        position += 2;
        continue;
      }
      if (character === ']') {
        throw new Error(`unescaped ']' in PARAM-VALUE of ${name} at ${position}`);
      }
      if (character === '"') {
        position += 1;
        break;
      }
      value += character;
      position += 1;
    }
    params.push([name, value]);
  }
  if (message[position] !== ']') {
    throw new Error(`']' expected to close SD-ELEMENT ${id} at ${position}`);
  }
  return { element: { id, params }, end: position + 1 };
}
