import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { isStrongroomError, StrongroomError } from '../errors.js';
import { isDatabaseUnavailable } from '../store/index.js';
import { pathOf } from './logging.js';

/** One failed check of a JSON schema, as Ajv reports it to Fastify. */
interface SchemaIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * Sends every error as `{ error: { code, message } }` with the status of its code. A StrongroomError
 * keeps its code and message. A schema validation error becomes SR_VALIDATION_FAILED naming the
 * field, and so do Fastify's own 4xx errors about the request, such as a body that is not JSON.
 * Anything else becomes SR_INTERNAL with a generic message. 5xx are logged at error with the
 * original error, 4xx at info with the code and its details.
 */
export function handleError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  return sendError(toStrongroomError(error, request), error, request, reply);
}

/** Sends SR_NOT_FOUND for a request that matches no route. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = new StrongroomError(
    'SR_NOT_FOUND',
    `No route matches ${request.method} ${pathOf(request.url)}. The API is described at GET /openapi.json.`,
  );
  return sendError(error, error, request, reply);
}

function sendError(
  mapped: StrongroomError,
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (mapped.status >= 500) {
    request.log.error({ err: error, code: mapped.code }, 'request failed');
  } else {
    request.log.info({ code: mapped.code, details: mapped.details }, 'request rejected');
  }

  if (mapped.code === 'SR_AUTH_REQUIRED' || mapped.code === 'SR_API_TOKEN_REJECTED') {
    // RFC 6750 section 3: a 401 from a bearer-protected resource names the scheme.
    void reply.header('WWW-Authenticate', 'Bearer realm="strongroom"');
  }

  return reply
    .status(mapped.status)
    .send({ error: { code: mapped.code, message: mapped.message } });
}

/** Maps any error of a request to a StrongroomError: its own, a validation error, or SR_INTERNAL. */
export function toStrongroomError(error: FastifyError, request: FastifyRequest): StrongroomError {
  if (isStrongroomError(error)) {
    return error;
  }

  if (Array.isArray(error.validation) && error.validation.length > 0) {
    return toValidationError(
      error.validationContext ?? 'request',
      error.validation[0] as SchemaIssue,
    );
  }

  const requestProblem = describeRequestProblem(error);
  if (requestProblem !== undefined) {
    return new StrongroomError('SR_VALIDATION_FAILED', requestProblem, {
      details: { fastifyCode: error.code },
    });
  }

  if (isDatabaseUnavailable(error)) {
    return new StrongroomError(
      'SR_DB_UNREACHABLE',
      'The database cannot be reached, so the request was not carried out. Check that the database server is running; GET /health shows its state.',
    );
  }

  return new StrongroomError(
    'SR_INTERNAL',
    `An unexpected error occurred. The service log has the details under request id ${request.id}.`,
  );
}

/** Returns a message for Fastify's own 4xx errors about the request, or undefined for other errors. */
function describeRequestProblem(error: FastifyError): string | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The request body is larger than the service accepts. Send a smaller body.';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'The request body has an unsupported media type. Send JSON with Content-Type: application/json.';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'The request body is not valid JSON. Send a JSON object.';
  }

  // Other Fastify client errors (a bad Content-Length, a malformed URL) have fixed messages with no
  // request data in them, so the code is enough to say what was wrong.
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return `The request is malformed (${error.code}). Check the headers and the URL.`;
  }

  return undefined;
}

/** Builds SR_VALIDATION_FAILED naming the field as `body.reason` or `params.accountId`. */
function toValidationError(context: string, issue: SchemaIssue): StrongroomError {
  const path = issue.instancePath
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));

  if (issue.keyword === 'required' && typeof issue.params['missingProperty'] === 'string') {
    path.push(issue.params['missingProperty']);
  }

  if (
    issue.keyword === 'additionalProperties' &&
    typeof issue.params['additionalProperty'] === 'string'
  ) {
    path.push(issue.params['additionalProperty']);
  }

  const field = [context, ...path].join('.');
  return new StrongroomError(
    'SR_VALIDATION_FAILED',
    `The field ${field} ${describeIssue(issue)}.`,
    {
      details: { field },
    },
  );
}

/**
 * Completes "The field X ..." from an Ajv issue. The text uses only the keyword parameters, never the
 * rejected value.
 */
function describeIssue(issue: SchemaIssue): string {
  const { params } = issue;

  switch (issue.keyword) {
    case 'required':
      return 'is missing. Add it to the request';
    case 'additionalProperties':
      return 'is not a known field. Remove it from the request';
    case 'minLength':
      return `is too short: it must have at least ${String(params['limit'])} characters`;
    case 'maxLength':
      return `is too long: it must have at most ${String(params['limit'])} characters`;
    case 'pattern':
      return 'contains a character that is not allowed';
    case 'format':
      return `is invalid: it must be a ${String(params['format'])}`;
    case 'type':
      return `has the wrong type: it must be ${String(params['type'])}`;
    case 'enum':
      return `must be one of: ${Array.isArray(params['allowedValues']) ? params['allowedValues'].join(', ') : ''}`;
    case 'minimum':
      return `must be at least ${String(params['limit'])}`;
    case 'maximum':
      return `must be at most ${String(params['limit'])}`;
    default:
      return `is invalid: it ${issue.message ?? 'does not match the schema'}`;
  }
}
