import { generateTotpCode, TOTP_PERIOD_SECONDS } from '../auth/totp.js';
import type { HttpClient } from './http-client.js';

/**
 * Reveals the secret of one account over the API, as the benchmark's load does, and throws on any
 * status other than 200. The operator behind `token` needs an approved access request for the
 * account (see seedRevealGrants); the reveal itself needs only a reason.
 */
export async function revealOverApi(
  client: HttpClient,
  token: string,
  accountId: string,
): Promise<void> {
  const response = await client.send('POST', `/api/v1/accounts/${accountId}/reveal`, {
    token,
    body: { reason: 'benchmark load' },
  });
  if (response.status !== 200) {
    throw new Error(`reveal of account ${accountId} returned ${response.status}: ${response.body}`);
  }
}

/**
 * Logs in over the API with the password and a TOTP code, enrolling TOTP first when the login
 * returns an enrolment session, as a user of a role that requires TOTP does once. Returns the
 * bearer token of a full session.
 * NOTE: it enrols a new TOTP device on every call, so it works once per user. The full login
 * uses the code of the next 30-second step, which the server's one-step skew accepts, because
 * the step of the confirming code cannot be used twice.
 */
export async function loginWithTotpOverApi(
  client: HttpClient,
  username: string,
  password: string,
): Promise<string> {
  const first = await postJson(client, '/api/v1/auth/login', undefined, { username, password });
  if (first['scope'] !== 'enrolment') {
    throw new Error(`login of ${username} without a TOTP code returned scope ${first['scope']}`);
  }
  const enrolment = first['token'] as string;
  const { secret } = await postJson(client, '/api/v1/auth/totp/enrol', enrolment, {});
  const now = new Date();
  await postJson(client, '/api/v1/auth/totp/confirm', enrolment, {
    code: generateTotpCode(secret as string, now),
  });

  const next = new Date(now.getTime() + TOTP_PERIOD_SECONDS * 1000);
  const full = await postJson(client, '/api/v1/auth/login', undefined, {
    username,
    password,
    totpCode: generateTotpCode(secret as string, next),
  });
  return full['token'] as string;
}

/** Sends a POST and returns its JSON body, or throws on a status other than 200 or 204. */
async function postJson(
  client: HttpClient,
  path: string,
  token: string | undefined,
  body: object,
): Promise<Record<string, unknown>> {
  const response = await client.send(
    'POST',
    path,
    token === undefined ? { body } : { token, body },
  );
  if (response.status !== 200 && response.status !== 204) {
    throw new Error(`POST ${path} returned ${response.status}: ${response.body}`);
  }
  return response.body === '' ? {} : (JSON.parse(response.body) as Record<string, unknown>);
}
