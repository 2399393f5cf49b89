import type { Logger } from 'pino';

/** Structured fields of an HSM log line: ids, labels and CKR names, never a secret. */
export type LogFields = Record<string, string | number | boolean>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The logger that the PKCS#11 code writes to. In the worker thread it forwards each line to the
 * main thread, which writes it with the service's pino logger. Elsewhere it wraps pino directly.
 */
export type HsmLog = Record<LogLevel, (message: string, fields?: LogFields) => void>;

/**
 * Builds an HsmLog that hands each line to `write`, for a thread or process that sends its log
 * lines to the main thread.
 */
export function forwardingHsmLog(
  write: (level: LogLevel, message: string, fields: LogFields) => void,
): HsmLog {
  return {
    debug: (message, fields = {}) => write('debug', message, fields),
    info: (message, fields = {}) => write('info', message, fields),
    warn: (message, fields = {}) => write('warn', message, fields),
    error: (message, fields = {}) => write('error', message, fields),
  };
}

/** Adapts a pino logger to HsmLog. */
export function hsmLogFromPino(logger: Logger): HsmLog {
  return {
    debug: (message, fields = {}) => logger.debug(fields, message),
    info: (message, fields = {}) => logger.info(fields, message),
    warn: (message, fields = {}) => logger.warn(fields, message),
    error: (message, fields = {}) => logger.error(fields, message),
  };
}
