import type { FastifyRequest } from 'fastify';
import { StrongroomError } from '../errors.js';

interface PropertySchema {
  type?: unknown;
}

/**
 * Rejects body fields whose JSON type differs from the route schema. Fastify's Ajv coerces types
 * for every part of the request (which the query string needs), so without this check a number or
 * an array sent as a secret would be stored as its string form. Runs before schema validation.
 * The message names the field and the JSON type received, never the value.
 */
export async function rejectMistypedBodyFields(request: FastifyRequest): Promise<void> {
  const schema = request.routeOptions.schema?.body as
    { properties?: Record<string, PropertySchema> } | undefined;
  const body = request.body;
  if (schema?.properties === undefined || !isPlainObject(body)) {
    return;
  }

  for (const [field, property] of Object.entries(schema.properties)) {
    const expected = property.type;
    const value = body[field];
    if (value === undefined || typeof expected !== 'string' || matchesType(value, expected)) {
      continue;
    }
    throw new StrongroomError(
      'SR_VALIDATION_FAILED',
      `The field body.${field} must be of type ${expected}, but the request sent ${jsonType(value)}.`,
      { details: { field: `body.${field}` } },
    );
  }
}

function matchesType(value: unknown, expected: string): boolean {
  switch (expected) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
    default:
      return true;
  }
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
