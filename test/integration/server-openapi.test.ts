import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { createAuditLog } from '../../src/audit/log.js';
import type { Keyring } from '../../src/keys/keyring.js';
import { buildServer } from '../../src/server/server.js';
import type { HealthService, VaultService } from '../../src/vault/types.js';
import { describeEachDialect } from '../support/databases.js';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, unknown>;
    securitySchemes: Record<string, Record<string, unknown>>;
  };
}

interface Operation {
  summary?: string;
  parameters?: Array<{ in: string; name: string; required?: boolean }>;
  security?: Array<Record<string, string[]>>;
  responses: Record<string, { description?: string }>;
}

const EXPECTED_OPERATIONS = [
  'GET /health',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/logout',
  'GET /api/v1/me',
  'POST /api/v1/targets',
  'GET /api/v1/targets',
  'GET /api/v1/targets/{targetId}',
  'POST /api/v1/targets/{targetId}/accounts',
  'GET /api/v1/targets/{targetId}/accounts',
  'GET /api/v1/accounts/{accountId}',
  'POST /api/v1/accounts/{accountId}/reveal',
  'POST /api/v1/accounts/{accountId}/checkout',
  'POST /api/v1/accounts/{accountId}/checkin',
  'GET /api/v1/audit/events',
  'GET /api/v1/accounts/{accountId}/secret-versions',
  'POST /api/v1/accounts/{accountId}/secret-versions',
  'POST /api/v1/import',
  'POST /api/v1/api-tokens',
  'GET /api/v1/api-tokens',
  'POST /api/v1/api-tokens/{tokenId}/revoke',
  'GET /api/v1/app/accounts/{accountId}/secret',
  'POST /api/v1/auth/totp/enrol',
  'POST /api/v1/auth/totp/confirm',
  'GET /api/v1/users',
  'POST /api/v1/users',
  'GET /api/v1/users/{userId}',
  'POST /api/v1/users/{userId}/unlock',
  'POST /api/v1/users/{userId}/reset-totp',
  'POST /api/v1/users/{userId}/disable',
  'POST /api/v1/users/{userId}/enable',
  'PUT /api/v1/users/{userId}/role',
  'GET /api/v1/groups',
  'POST /api/v1/groups',
  'GET /api/v1/groups/{groupId}',
  'PUT /api/v1/groups/{groupId}/members/{userId}',
  'DELETE /api/v1/groups/{groupId}/members/{userId}',
  'GET /api/v1/targets/{targetId}/grants',
  'PUT /api/v1/targets/{targetId}/grants/{groupId}',
  'DELETE /api/v1/targets/{targetId}/grants/{groupId}',
  'GET /api/v1/targets/{targetId}/policy',
  'PUT /api/v1/targets/{targetId}/policy',
  'POST /api/v1/access-requests',
  'GET /api/v1/access-requests',
  'GET /api/v1/access-requests/{requestId}',
  'POST /api/v1/access-requests/{requestId}/approve',
  'POST /api/v1/access-requests/{requestId}/reject',
  'POST /api/v1/access-requests/{requestId}/cancel',
  'POST /api/v1/break-glass',
  'POST /api/v1/break-glass/{requestId}/confirm',
];

const PUBLIC_OPERATIONS = new Set(['GET /health', 'POST /api/v1/auth/login']);

/** Routes for applications, which take an API token rather than a login session token. */
const API_TOKEN_OPERATIONS = new Set(['GET /api/v1/app/accounts/{accountId}/secret']);

/** Collects every `$ref` and every schema object under `value`, with its JSON pointer. */
function walk(
  value: unknown,
  pointer: string,
  visit: (node: Record<string, unknown>, pointer: string) => void,
): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => walk(item, `${pointer}/${index}`, visit));
    return;
  }
  if (value !== null && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    visit(node, pointer);
    for (const [key, child] of Object.entries(node)) {
      walk(child, `${pointer}/${key}`, visit);
    }
  }
}

function resolvePointer(document: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>(
      (node, segment) => (node as Record<string, unknown> | undefined)?.[segment],
      document,
    );
}

describeEachDialect('OpenAPI document', (database) => {
  let app: FastifyInstance;
  let document: OpenApiDocument;

  // The document depends only on the routes, so stand-ins for the services are enough here.
  const vault = {} as VaultService;
  const keyring = {} as Keyring;
  const health: HealthService = {
    check: async () => ({
      healthy: true,
      activeProvider: 'file',
      providers: [],
      database: { dialect: 'sqlite', reachable: true },
    }),
  };

  beforeAll(async () => {
    const store = await database.openStore();
    const audit = createAuditLog(store, database.logger);
    app = await buildServer({ store, vault, health, audit, keyring, logger: database.logger });

    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    document = response.json<OpenApiDocument>();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('declares OpenAPI 3.0', () => {
    expect(document.openapi).toMatch(/^3\.0\.\d+$/);
    expect(document.info.title).toBe('Strongroom REST API');
    expect(typeof document.info.version).toBe('string');
  });

  it('lists every route once', () => {
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );

    expect(operations.sort()).toEqual([...EXPECTED_OPERATIONS].sort());
  });

  it('lists only routes the server has', () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const method of Object.keys(methods)) {
        const url = path.replaceAll(/\{([^}]+)\}/g, ':$1');
        expect(
          app.hasRoute({ method: method.toUpperCase() as 'GET', url }),
          `${method} ${path}`,
        ).toBe(true);
      }
    }
  });

  it('marks bearer auth on every protected route', () => {
    expect(document.components.securitySchemes['bearerAuth']).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });

    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const name = `${method.toUpperCase()} ${path}`;
        if (PUBLIC_OPERATIONS.has(name)) {
          expect(operation.security, name).toBeUndefined();
        } else if (API_TOKEN_OPERATIONS.has(name)) {
          expect(operation.security, name).toEqual([{ apiTokenAuth: [] }]);
          expect(operation.responses['401'], name).toBeDefined();
        } else {
          expect(operation.security, name).toEqual([{ bearerAuth: [] }]);
          expect(operation.responses['401'], name).toBeDefined();
        }
      }
    }
  });

  it('describes every response', () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const statuses = Object.keys(operation.responses);
        expect(statuses.length, `${method} ${path}`).toBeGreaterThan(0);
        expect(
          statuses.some((status) => status.startsWith('2')),
          `${method} ${path}`,
        ).toBe(true);
        for (const status of statuses) {
          expect(
            operation.responses[status]!.description,
            `${method} ${path} ${status}`,
          ).toBeTruthy();
        }
      }
    }
  });

  it('declares each path parameter', () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      for (const [method, operation] of Object.entries(methods)) {
        const declared = (operation.parameters ?? []).filter(
          (parameter) => parameter.in === 'path',
        );
        expect(declared.map((parameter) => parameter.name).sort(), `${method} ${path}`).toEqual(
          [...names].sort(),
        );
        expect(
          declared.every((parameter) => parameter.required === true),
          `${method} ${path}`,
        ).toBe(true);
      }
    }
  });

  it('resolves every $ref inside the document', () => {
    const refs: string[] = [];
    walk(document, '#', (node) => {
      if (typeof node['$ref'] === 'string') {
        refs.push(node['$ref']);
      }
    });

    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref.startsWith('#/components/schemas/'), ref).toBe(true);
      expect(resolvePointer(document, ref), ref).toBeDefined();
    }
  });

  it('uses no keyword that OpenAPI 3.0 forbids', () => {
    walk(document, '#', (node, pointer) => {
      expect(node['$id'], pointer).toBeUndefined();
      expect(node['$schema'], pointer).toBeUndefined();
      expect(node['const'], pointer).toBeUndefined();
      if ('type' in node && pointer.includes('schema')) {
        expect(typeof node['type'], pointer).toBe('string');
      }
    });
  });
});
