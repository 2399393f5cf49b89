import { StrongroomError } from '../errors.js';
import type { Role } from './users.js';

/** An action that the role policy allows or denies. */
export type Permission =
  | 'targets.read'
  | 'targets.create'
  | 'accounts.create'
  | 'audit.read'
  | 'people.read'
  | 'people.manage'
  | 'access.read'
  | 'access.request'
  | 'access.approve'
  | 'secrets.reveal'
  | 'secrets.checkout'
  | 'secrets.update'
  | 'api-tokens.manage'
  | 'breakglass';

/**
 * What each role may do. The role is only the first check: `secrets.reveal` and
 * `secrets.checkout` also need an active grant for the account, which the access workflow checks.
 * Operators get one from an approved access request, administrators only from a break-glass
 * request that a second administrator confirmed. No role reads a secret on its role alone.
 */
const GRANTS: Record<Role, readonly Permission[]> = {
  administrator: [
    'targets.read',
    'targets.create',
    'accounts.create',
    'audit.read',
    'people.read',
    'people.manage',
    'access.read',
    'secrets.reveal',
    'secrets.update',
    'api-tokens.manage',
    'breakglass',
  ],
  operator: ['targets.read', 'access.read', 'access.request', 'secrets.reveal', 'secrets.checkout'],
  auditor: ['targets.read', 'audit.read', 'people.read', 'access.read'],
  approver: ['targets.read', 'access.read', 'access.approve'],
};

/** Descriptions that complete "The role X does not allow ...". */
const ACTION_PHRASES: Record<Permission, string> = {
  'targets.read': 'reading targets and accounts',
  'targets.create': 'creating targets',
  'accounts.create': 'creating accounts',
  'audit.read': 'reading audit events',
  'people.read': 'reading users, groups, grants and policies',
  'people.manage': 'changing users, groups, grants and policies',
  'access.read': 'reading access requests',
  'access.request': 'requesting access to accounts',
  'access.approve': 'approving or rejecting access requests',
  'secrets.reveal': 'revealing secrets',
  'secrets.checkout': 'checking accounts out and in',
  'secrets.update': 'changing secrets',
  'api-tokens.manage': 'managing API tokens',
  breakglass: 'break-glass access',
};

export function isAllowed(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/** Throws SR_FORBIDDEN unless the role has the permission. */
export function assertAllowed(role: Role, permission: Permission): void {
  if (isAllowed(role, permission)) {
    return;
  }

  const allowedRoles = (Object.keys(GRANTS) as Role[]).filter((candidate) =>
    isAllowed(candidate, permission),
  );
  throw new StrongroomError(
    'SR_FORBIDDEN',
    `The role ${role} does not allow ${ACTION_PHRASES[permission]}. Ask for a user with one of these roles: ${allowedRoles.join(', ')}.`,
    { details: { role, permission } },
  );
}
