import type { FormBody } from './forms.js';

/** The input, label and unit with which a console form shows a field that an error names. */
export interface FormField {
  /** Name of the form's input. */
  name: string;
  /** The label of the input as the form shows it. */
  label: string;
  /** Unit of the input for a number range, such as "minutes". */
  unit?: string;
  /** Seconds in one `unit`, when the service counts the field in seconds and the form does not. */
  secondsPerUnit?: number;
}

/** The fields of one form, by the field name in an error's details (`body.durationSeconds`). */
export type FormFields = Record<string, FormField>;

/** The access request form, which takes the period in minutes while the API takes seconds. */
export const REQUEST_FORM_FIELDS: FormFields = {
  'body.reason': { name: 'reason', label: 'Reason for access' },
  'body.durationMinutes': { name: 'durationMinutes', label: 'Access period', unit: 'minutes' },
  'body.durationSeconds': {
    name: 'durationMinutes',
    label: 'Access period',
    unit: 'minutes',
    secondsPerUnit: 60,
  },
};

export const REVEAL_FORM_FIELDS: FormFields = {
  'body.reason': { name: 'reason', label: 'Reason for revealing' },
};

export const CHECKOUT_FORM_FIELDS: FormFields = {
  'body.reason': { name: 'reason', label: 'Reason for checking out' },
};

/** An error message and input name of a form, translated from an error's field details. */
export interface FieldMessage {
  field: string;
  message: string;
}

/**
 * Restates an error about `details.field` in the form's terms: the label instead of the API field
 * name and, for a range, the form's unit with the limits converted. Returns null when the form has
 * no such field, so the caller keeps the original message.
 */
export function describeFieldError(
  fields: FormFields,
  details: Record<string, unknown>,
  message: string,
  body: FormBody,
): FieldMessage | null {
  const apiField = typeof details['field'] === 'string' ? details['field'] : '';
  const field = fields[apiField];
  if (field === undefined) {
    return null;
  }

  const { minimum, maximum } = details;
  if (field.unit !== undefined && typeof minimum === 'number' && typeof maximum === 'number') {
    const perUnit = field.secondsPerUnit ?? 1;
    const range = `${Math.ceil(minimum / perUnit)} to ${Math.floor(maximum / perUnit)} ${field.unit}`;
    const posted = body?.[field.name];
    const rule = `must be a whole number from ${range}`;
    const message =
      typeof posted === 'string' && posted.trim().length <= 12
        ? `The field “${field.label}” is ${posted.trim()}, but it ${rule}.`
        : `The field “${field.label}” ${rule}.`;
    return { field: field.name, message };
  }

  // The services and readField start their messages with "The field <name>", so the label
  // replaces the name and the rest of the message stays as it is.
  return {
    field: field.name,
    message: message.replace(`The field ${apiField}`, `The field “${field.label}”`),
  };
}
