import type { FastifyInstance } from 'fastify';

import { IMPORT_COLUMNS, IMPORT_MAX_ROWS } from '../../vault/import/csv.js';
import { createVaultImporter } from '../../vault/import/importer.js';
import { getActor, requirePermission } from '../authentication.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import type { ServerDependencies } from '../server.js';

/**
 * Maximum size of an import request in bytes. A row with a 4096-bit RSA key in PEM takes about
 * 3.5 KB, so 8 MiB fits the maximum 5000 rows of passwords or about 2000 rows of such keys.
 */
export const IMPORT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

interface ImportBody {
  csv: string;
  skipInvalid?: boolean;
}

const rowErrors = {
  type: 'array',
  description: 'One entry per invalid row, or one for a file that cannot be parsed.',
  items: {
    type: 'object',
    required: ['line', 'message'],
    properties: { line: { type: 'integer' }, message: { type: 'string' } },
  },
};

const importReport = {
  type: 'object',
  required: ['imported', 'rows', 'targetsCreated', 'accountsCreated', 'rowsSkipped', 'errors'],
  properties: {
    imported: { type: 'boolean' },
    rows: { type: 'integer', description: 'Data rows in the file, without the header.' },
    targetsCreated: { type: 'integer' },
    accountsCreated: { type: 'integer' },
    rowsSkipped: { type: 'integer' },
    errors: rowErrors,
  },
};

/** Registers the CSV import route, inside the authenticated scope. */
export function registerImportRoutes(app: FastifyInstance, deps: ServerDependencies): void {
  const importer = createVaultImporter({
    vault: deps.store.vault,
    imports: deps.store.imports,
    keyring: deps.keyring,
    audit: deps.audit,
    logger: deps.logger.child({ component: 'import' }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  app.post<{ Body: ImportBody }>(
    '/import',
    {
      onRequest: [requirePermission('targets.create'), requirePermission('accounts.create')],
      bodyLimit: IMPORT_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Import targets and accounts from CSV in one transaction',
        description: `Columns: ${IMPORT_COLUMNS.join(', ')}; at most ${IMPORT_MAX_ROWS} rows. See docs/import.md.`,
        tags: ['import'],
        security: bearerSecurity,
        body: {
          type: 'object',
          required: ['csv'],
          additionalProperties: false,
          properties: {
            csv: { type: 'string', minLength: 1, description: 'The file, with a header row.' },
            skipInvalid: {
              type: 'boolean',
              description:
                'Import the valid rows of a file that has invalid ones. False by default.',
            },
          },
        },
        response: {
          201: importReport,
          400: {
            description: 'SR_IMPORT_ROWS_INVALID: nothing was imported; errors lists the rows.',
            type: 'object',
            required: ['error', 'report'],
            properties: {
              error: {
                type: 'object',
                required: ['code', 'message'],
                properties: { code: { type: 'string' }, message: { type: 'string' } },
              },
              report: importReport,
            },
          },
          ...errorResponses(401, 403, 409, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const report = await importer.importCsv(
        request.body.csv,
        { skipInvalid: request.body.skipInvalid === true },
        getActor(request),
      );
      if (report.imported) {
        return reply.status(201).send(report);
      }

      const message = `The import has ${report.errors.length} invalid row${report.errors.length === 1 ? '' : 's'}, so nothing was imported. Fix the rows listed in report.errors, or send skipInvalid: true to import only the valid rows.`;
      request.log.info({ errors: report.errors.length }, 'import rejected');
      return reply.status(400).send({ error: { code: 'SR_IMPORT_ROWS_INVALID', message }, report });
    },
  );
}
