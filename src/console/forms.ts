import { isStrongroomError, StrongroomError } from '../errors.js';
import { PRINTABLE } from '../server/schemas.js';
import type { FormError } from './context.js';
import { describeFieldError, type FormFields } from './form-fields.js';

const PRINTABLE_TEXT = new RegExp(PRINTABLE, 'u');

/** The body of a console form, as @fastify/formbody parses it. */
export type FormBody = Record<string, unknown> | undefined;

/**
 * Reads a text field of a posted form, trimmed. Throws SR_VALIDATION_FAILED naming the field when it
 * is missing, repeated or outside the length limits; the message never repeats the value.
 */
export function readField(
  body: FormBody,
  name: string,
  limits: { min?: number; max: number; printable?: boolean },
): string {
  const raw = body?.[name];
  const min = limits.min ?? 0;
  // A browser leaves out a text field only when the form lacks it, so an optional one counts as empty.
  let value: string | undefined;
  if (typeof raw === 'string') {
    value = raw.trim();
  } else if (raw === undefined && min === 0) {
    value = '';
  }
  if (value === undefined || [...value].length < min) {
    throw fieldError(
      name,
      min > 1 ? `is too short: it must have at least ${min} characters` : 'is missing. Fill it in',
    );
  }
  if ([...value].length > limits.max) {
    throw fieldError(name, `is too long: it must have at most ${limits.max} characters`);
  }
  if (limits.printable === true && !PRINTABLE_TEXT.test(value)) {
    throw fieldError(name, 'contains a control character. Remove it');
  }
  return value;
}

/** Reads a whole number from a form field. Throws SR_VALIDATION_FAILED outside `min`..`max`. */
export function readWholeNumber(
  body: FormBody,
  name: string,
  range: { min: number; max: number },
): number {
  const text = readField(body, name, { min: 1, max: 12 });
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw fieldError(name, `must be a whole number from ${range.min} to ${range.max}`, {
      minimum: range.min,
      maximum: range.max,
    });
  }
  return value;
}

/** Throws SR_VALIDATION_FAILED unless the confirmation checkbox `confirm` is ticked. */
export function requireConfirmation(body: FormBody, action: string): void {
  if (body?.['confirm'] !== 'yes') {
    throw fieldError('confirm', `must be ticked to confirm that you want to ${action}`);
  }
}

function fieldError(
  name: string,
  problem: string,
  range: { minimum: number; maximum: number } | Record<string, never> = {},
): StrongroomError {
  return new StrongroomError('SR_VALIDATION_FAILED', `The field ${name} ${problem}.`, {
    details: { field: `body.${name}`, ...range },
  });
}

/**
 * Turns an error of a service into an error shown with the form: the code, the message and the
 * form field it concerns. With `fields`, a message about one of them names the field by its label
 * and unit, as describeFieldError does. Other errors are thrown again for the console's error page.
 */
export function toFormError(
  error: unknown,
  fields: FormFields = {},
  body: FormBody = undefined,
): FormError & { status: number } {
  if (!isStrongroomError(error)) {
    throw error;
  }
  const described = describeFieldError(fields, error.details, error.message, body);
  if (described !== null) {
    return { code: error.code, ...described, status: error.status };
  }

  const field = typeof error.details['field'] === 'string' ? error.details['field'] : '';
  return {
    code: error.code,
    message: error.message,
    field: field.replace(/^(body|query)\./, ''),
    status: error.status,
  };
}
