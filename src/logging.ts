import pino, { type Logger, type DestinationStream } from 'pino';

/**
 * Field names that must never reach a log line. The code does not log them; redaction is the
 * second line of defence if an object carrying one is logged by mistake.
 */
const REDACTED_PATHS = [
  'password',
  'pin',
  'secret',
  'token',
  'dek',
  'key',
  '*.password',
  '*.pin',
  '*.secret',
  '*.token',
  '*.dek',
  '*.key',
  'req.headers.authorization',
  'headers.authorization',
];

/** Creates the service logger: JSON lines on stdout, or on the given stream in tests. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'strongroom' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
