import type { HttpClient } from './http-client.js';

/**
 * Reveals the secret of one account over the API, as the benchmark's load does, and throws on any
 * status other than 200. The steps a reveal needs (today a reason, later perhaps an approved
 * access grant) are all in this function, so it is the one place to change when the API changes.
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

/** Logs in over the API and returns the bearer token. */
export async function loginOverApi(
  client: HttpClient,
  username: string,
  password: string,
): Promise<string> {
  const response = await client.send('POST', '/api/v1/auth/login', {
    body: { username, password },
  });
  if (response.status !== 200) {
    throw new Error(`login of ${username} returned ${response.status}: ${response.body}`);
  }
  return (JSON.parse(response.body) as { token: string }).token;
}
