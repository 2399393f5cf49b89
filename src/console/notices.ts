/** Messages shown after a redirect, chosen by a fixed key in the query string, never by free text. */
const NOTICES: Record<string, string> = {
  requested:
    'Access requested. An approver of the target must approve it before you can use the account.',
  approved: 'Request approved.',
  rejected: 'Request rejected.',
  cancelled: 'Request cancelled.',
  'checked-in': 'Account checked in. Its secret is marked for rotation.',
  'user-created': 'User created.',
  'user-changed': 'User changed.',
  'group-created': 'Group created.',
  'group-changed': 'Group changed.',
  'token-revoked': 'API token revoked.',
  'session-ended': 'Your session ended, so the form was not submitted. Log in again.',
};

/** Returns the notice for the `notice` query parameter, or null for none or an unknown key. */
export function noticeFor(query: unknown): string | null {
  const key = (query as { notice?: unknown } | undefined)?.notice;
  return typeof key === 'string' ? (NOTICES[key] ?? null) : null;
}
