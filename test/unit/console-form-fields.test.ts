import { describe, expect, it } from 'vitest';

import { StrongroomError } from '../../src/errors.js';
import { REQUEST_FORM_FIELDS, REVEAL_FORM_FIELDS } from '../../src/console/form-fields.js';
import { toFormError } from '../../src/console/forms.js';

describe('console form errors', () => {
  it('converts a seconds range to minutes', () => {
    const error = new StrongroomError(
      'SR_VALIDATION_FAILED',
      'The field body.durationSeconds is 18000, outside the allowed range. Give 60 to 14400 seconds.',
      { details: { field: 'body.durationSeconds', minimum: 60, maximum: 14400 } },
    );

    const formError = toFormError(error, REQUEST_FORM_FIELDS, { durationMinutes: '300' });

    expect(formError.field).toBe('durationMinutes');
    expect(formError.status).toBe(400);
    expect(formError.message).toBe(
      'The field “Access period” is 300, but it must be a whole number from 1 to 240 minutes.',
    );
  });

  it('leaves out a long posted value', () => {
    const error = new StrongroomError('SR_VALIDATION_FAILED', 'out of range', {
      details: { field: 'body.durationSeconds', minimum: 60, maximum: 14400 },
    });

    const formError = toFormError(error, REQUEST_FORM_FIELDS, {
      durationMinutes: '9'.repeat(40),
    });

    expect(formError.message).toBe(
      'The field “Access period” must be a whole number from 1 to 240 minutes.',
    );
  });

  it('names a field by its label', () => {
    const error = new StrongroomError(
      'SR_VALIDATION_FAILED',
      'The field body.reason is too short: it must have at least 3 characters.',
      { details: { field: 'body.reason' } },
    );

    const formError = toFormError(error, REVEAL_FORM_FIELDS, { reason: '' });

    expect(formError.field).toBe('reason');
    expect(formError.message).toBe(
      'The field “Reason for revealing” is too short: it must have at least 3 characters.',
    );
  });

  it('keeps a field the form does not map', () => {
    const error = new StrongroomError('SR_VALIDATION_FAILED', 'The field body.name is missing.', {
      details: { field: 'body.name' },
    });

    const formError = toFormError(error, REVEAL_FORM_FIELDS, {});

    expect(formError.field).toBe('name');
    expect(formError.message).toBe('The field body.name is missing.');
  });
});
