import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';

import { generateTotpCode } from '../../src/auth/totp.js';

/** A JSON reply of the API. */
export interface ApiReply<T = Record<string, unknown>> {
  status: number;
  json: T;
}

/** Sends one API request; `inject` and `fetch` clients share this shape. */
export type ApiCall = (
  method: string,
  url: string,
  options?: { body?: unknown; token?: string | undefined },
) => Promise<ApiReply<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Creates a client over Fastify's inject, for tests without a listening server. */
export function injectClient(app: FastifyInstance): ApiCall {
  return async (method, url, options = {}) => {
    const response = await app.inject({
      method: method as 'GET',
      url,
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      ...(options.body === undefined ? {} : { payload: options.body as object }),
    });
    // A reply that is not JSON, such as the Prometheus text of GET /metrics, gives an empty object.
    const isJson = String(response.headers['content-type'] ?? '').includes('application/json');
    return {
      status: response.statusCode,
      json: isJson && response.body !== '' ? response.json() : {},
    };
  };
}

/** Creates a client over fetch, for a service listening at `baseUrl`. */
export function fetchClient(baseUrl: string): ApiCall {
  return async (method, url, options = {}) => {
    const response = await fetch(`${baseUrl}${url}`, {
      method,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? {} : JSON.parse(text) };
  };
}

/** A user's authenticator app: the secret and the time step of the last code it gave. */
export interface TotpDevice {
  secret: string;
  /** Time of the last code sent, so that the next one is of a later step. */
  lastCodeAt: Date;
}

/**
 * Enrols TOTP for a user whose role requires it, through the API as the user would: password
 * login, enrol, confirm with the code of `now`. Returns the device for later logins.
 */
export async function enrolTotp(
  call: ApiCall,
  username: string,
  password: string,
  now: Date,
): Promise<TotpDevice> {
  const login = await call('POST', '/api/v1/auth/login', { body: { username, password } });
  expect(login.status).toBe(200);
  expect(login.json.scope).toBe('enrolment');
  const token = login.json.token as string;

  const enrol = await call('POST', '/api/v1/auth/totp/enrol', { token });
  expect(enrol.status).toBe(200);
  const secret = enrol.json.secret as string;

  const code = generateTotpCode(secret, now);
  const confirm = await call('POST', '/api/v1/auth/totp/confirm', { token, body: { code } });
  expect(confirm.status).toBe(204);
  return { secret, lastCodeAt: now };
}

/**
 * Logs in with the password and the code of the step after the last one used, which the
 * server's one-step skew window accepts until `now` passes it. Returns the bearer token.
 */
export async function loginWithTotp(
  call: ApiCall,
  username: string,
  password: string,
  device: TotpDevice,
): Promise<string> {
  const at = new Date(device.lastCodeAt.getTime() + 30_000);
  const login = await call('POST', '/api/v1/auth/login', {
    body: { username, password, totpCode: generateTotpCode(device.secret, at) },
  });
  expect(login.status, JSON.stringify(login.json)).toBe(200);
  expect(login.json.scope).toBe('full');
  device.lastCodeAt = at;
  return login.json.token as string;
}

/** Enrols TOTP and logs in with it; returns a full session token and the device. */
export async function enrolAndLogin(
  call: ApiCall,
  username: string,
  password: string,
  now: Date,
): Promise<{ token: string; device: TotpDevice }> {
  const device = await enrolTotp(call, username, password, now);
  const token = await loginWithTotp(call, username, password, device);
  return { token, device };
}

/** Tokens of the people in a grant set-up. */
export interface GrantParties {
  admin: string;
  operator: string;
  operatorId: string;
  approver: string;
  approverId: string;
}

/**
 * Sets up the workflow for a target as an administrator: an operator group with a grant on the
 * target and an approver group named by its policy. Unique names let a suite call it repeatedly.
 */
export async function configureTargetAccess(
  call: ApiCall,
  parties: GrantParties,
  targetId: string,
  options: { approvalsRequired?: number; maxDurationSeconds?: number } = {},
): Promise<{ operatorGroupId: string; approverGroupId: string }> {
  const suffix = targetId.slice(0, 8);
  const operators = await call('POST', '/api/v1/groups', {
    token: parties.admin,
    body: { name: `operators-${suffix}` },
  });
  expect(operators.status).toBe(201);
  const approvers = await call('POST', '/api/v1/groups', {
    token: parties.admin,
    body: { name: `approvers-${suffix}` },
  });
  expect(approvers.status).toBe(201);
  const operatorGroupId = operators.json.id as string;
  const approverGroupId = approvers.json.id as string;

  const steps = [
    call('PUT', `/api/v1/groups/${operatorGroupId}/members/${parties.operatorId}`, {
      token: parties.admin,
    }),
    call('PUT', `/api/v1/groups/${approverGroupId}/members/${parties.approverId}`, {
      token: parties.admin,
    }),
    call('PUT', `/api/v1/targets/${targetId}/grants/${operatorGroupId}`, { token: parties.admin }),
    call('PUT', `/api/v1/targets/${targetId}/policy`, {
      token: parties.admin,
      body: { approverGroupId, ...options },
    }),
  ];
  for (const step of steps) {
    expect((await step).status).toBe(200);
  }
  return { operatorGroupId, approverGroupId };
}

/** Requests access to an account as the operator and approves it as the approver. */
export async function grantAccess(
  call: ApiCall,
  parties: Pick<GrantParties, 'operator' | 'approver'>,
  accountId: string,
  durationSeconds = 3600,
): Promise<string> {
  const request = await call('POST', '/api/v1/access-requests', {
    token: parties.operator,
    body: { accountId, reason: 'scheduled maintenance', durationSeconds },
  });
  expect(request.status, JSON.stringify(request.json)).toBe(201);
  const requestId = request.json.id as string;

  const approval = await call('POST', `/api/v1/access-requests/${requestId}/approve`, {
    token: parties.approver,
    body: { comment: 'ok' },
  });
  expect(approval.status, JSON.stringify(approval.json)).toBe(200);
  expect(approval.json.status).toBe('approved');
  return requestId;
}
