import type { ApiCall, ApiReply } from './people.js';

/** A sensitive value found in a recording that may not carry it, and the encoding found. */
export interface Leak {
  source: string;
  name: string;
  encoding: string;
}

/** One recorded text: an HTTP response, a service output or a CLI output. */
interface Recording {
  source: string;
  text: string;
  /** Names of the sensitive values this text must carry, such as a reveal's secret. */
  carries: string[];
}

/** Options of a recorded request, beyond those of ApiCall. */
export interface RecordedOptions {
  body?: unknown;
  /** A body sent as written with a JSON content type, such as malformed JSON. */
  rawBody?: string;
  token?: string | undefined;
  /** Names of the sensitive values that this response is meant to carry. */
  carries?: string[];
}

/** A reply with its body as received, for messages of failed checks. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface RecordedReply extends ApiReply<any> {
  text: string;
}

/** A recorded API client: the ApiCall shape of people.ts, and `send` with allowances. */
export interface RecordingClient {
  call: ApiCall;
  send(method: string, url: string, options?: RecordedOptions): Promise<RecordedReply>;
}

/** Lines of a multi-line value shorter than this are too common to search for on their own. */
const MIN_FRAGMENT_LENGTH = 20;

/**
 * Returns the forms in which `value` could appear in a log line or a response: as written, escaped
 * inside a JSON string, base64, base64url, hex and URL-encoded, and each long line of a multi-line
 * value such as a PEM key.
 */
export function encodingsOf(value: string): Map<string, string> {
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Map<string, string>([
    ['plain', value],
    ['json-escaped', JSON.stringify(value).slice(1, -1)],
    ['base64', bytes.toString('base64').replace(/=+$/, '')],
    ['base64url', bytes.toString('base64url')],
    ['hex', bytes.toString('hex')],
    ['hex-upper', bytes.toString('hex').toUpperCase()],
    ['url-encoded', encodeURIComponent(value)],
  ]);
  const lines = value.split('\n').map((line) => line.trim());
  lines.forEach((line, index) => {
    if (line.length >= MIN_FRAGMENT_LENGTH && line !== value) {
      forms.set(`line ${index + 1}`, line);
    }
  });
  return forms;
}

/**
 * Records every text that a test run produces and finds the sensitive values in it. A value may
 * appear only in the recordings that name it in `carries`.
 */
export class SecretScanner {
  private readonly values = new Map<string, string>();
  private readonly recordings: Recording[] = [];

  /** Registers a sensitive value under a unique name, such as 'password:olga'. */
  addValue(name: string, value: string): void {
    if (this.values.has(name)) {
      throw new Error(`The sensitive value name '${name}' is registered already.`);
    }
    this.values.set(name, value);
  }

  value(name: string): string {
    const value = this.values.get(name);
    if (value === undefined) {
      throw new Error(`No sensitive value is registered as '${name}'.`);
    }
    return value;
  }

  record(source: string, text: string, carries: string[] = []): void {
    this.recordings.push({ source, text, carries });
  }

  /** Returns the source of every recording, in the order recorded. */
  sources(): string[] {
    return this.recordings.map((entry) => entry.source);
  }

  /** Returns the recordings whose text matches `pattern`, by source. */
  sourcesMatching(pattern: RegExp): string[] {
    return this.recordings.filter((entry) => pattern.test(entry.text)).map((entry) => entry.source);
  }

  /** Finds each sensitive value, in any of its encodings, in a recording that may not carry it. */
  findLeaks(): Leak[] {
    const leaks: Leak[] = [];
    for (const [name, value] of this.values) {
      const forms = encodingsOf(value);
      for (const recording of this.recordings) {
        if (recording.carries.includes(name)) {
          continue;
        }
        for (const [encoding, form] of forms) {
          if (recording.text.includes(form)) {
            leaks.push({ source: recording.source, name, encoding });
          }
        }
      }
    }
    return leaks;
  }

  /**
   * Lists the allowances whose recording does not contain the value in plain or JSON-escaped
   * form. An empty list shows that the scan reads the very texts that carry the values.
   */
  missingCarriedValues(): string[] {
    const missing: string[] = [];
    for (const recording of this.recordings) {
      for (const name of recording.carries) {
        const value = this.value(name);
        const escaped = JSON.stringify(value).slice(1, -1);
        if (!recording.text.includes(value) && !recording.text.includes(escaped)) {
          missing.push(`${recording.source}: ${name}`);
        }
      }
    }
    return missing;
  }
}

/**
 * Creates a fetch client for the service at `baseUrl` that records each response, headers and
 * body, in `scanner`. It registers the values that the service hands out as it receives them: the
 * token of each login, the TOTP secret and otpauth URI of each enrolment and each API token, and
 * lets only that one response carry them.
 */
export function recordingClient(baseUrl: string, scanner: SecretScanner): RecordingClient {
  let handedOut = 0;

  const send: RecordingClient['send'] = async (method, url, options = {}) => {
    const body =
      options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const response = await fetch(`${baseUrl}${url}`, {
      method,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    const json = contentType.includes('json') && text !== '' ? JSON.parse(text) : {};

    handedOut += 1;
    const carries = [...(options.carries ?? [])];
    const handOut = (kind: string, value: unknown) => {
      if (typeof value === 'string') {
        const name = `${kind} #${handedOut}`;
        scanner.addValue(name, value);
        carries.push(name);
      }
    };
    if (response.status < 300 && method === 'POST') {
      if (url === '/api/v1/auth/login') {
        handOut('session token', json.token);
      } else if (url === '/api/v1/auth/totp/enrol') {
        handOut('TOTP secret', json.secret);
        handOut('otpauth URI', json.otpauthUri);
      } else if (url === '/api/v1/api-tokens') {
        handOut('API token', json.token);
      }
    }

    const headers = [...response.headers].map(([key, value]) => `${key}: ${value}`).join('\n');
    scanner.record(`${method} ${url} -> ${response.status}`, `${headers}\n\n${text}`, carries);
    return { status: response.status, json, text };
  };

  return { send, call: (method, url, options) => send(method, url, options) };
}
