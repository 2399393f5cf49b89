import type { Logger } from 'pino';

/** Structured fields of an HSM log line: ids, labels and CKR names, never a secret. */
export type LogFields = Record<string, string | number | boolean>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The logger that the PKCS#11 code writes to. In the worker thread it forwards each line to the
 * main thread, which writes it with the service's pino logger. Elsewhere it wraps pino directly.
 */
export type HsmLog = Record<LogLevel, (message: string, fields?: LogFields) => void>;

/** Adapts a pino logger to HsmLog. */
export function hsmLogFromPino(logger: Logger): HsmLog {
  return {
    debug: (message, fields = {}) => logger.debug(fields, message),
    info: (message, fields = {}) => logger.info(fields, message),
    warn: (message, fields = {}) => logger.warn(fields, message),
    error: (message, fields = {}) => logger.error(fields, message),
  };
}
