import pino from 'pino';
import type { Logger } from 'pino';
import pinoPretty from 'pino-pretty';

import { createLogger } from '../logging.js';

/**
 * Creates the logger of a command, which writes to standard error. On a terminal each record is one
 * line that an administrator can read: the time, the level, the message and its fields as JSON.
 * Otherwise the records stay JSON lines, as the service writes them, for scripts and log
 * collectors. Redaction applies in both cases, before the record is formatted.
 */
export function createCliLogger(level = 'warn'): Logger {
  if (process.stderr.isTTY !== true) {
    return createLogger(level, pino.destination(2));
  }
  return createLogger(
    level,
    pinoPretty({
      destination: 2,
      sync: true,
      colorize: false,
      singleLine: true,
      ignore: 'pid,hostname,service',
      translateTime: 'SYS:HH:MM:ss',
    }),
  );
}
