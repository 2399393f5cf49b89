import { StrongroomError } from '../errors.js';
import type { Role } from './users.js';

/** An action that the role policy allows or denies. */
export type Permission =
  | 'targets.read'
  | 'targets.create'
  | 'accounts.create'
  | 'secrets.reveal'
  | 'secrets.update'
  | 'api-tokens.manage'
  | 'audit.read';

/**
 * Role-based grants. Every role may read targets and account metadata. Reveal is not yet gated by
 * approved, time-limited access requests.
 * TODO: replace this table with the access-request workflow once approvals exist.
 */
const GRANTS: Record<Role, readonly Permission[]> = {
  administrator: [
    'targets.read',
    'targets.create',
    'accounts.create',
    'secrets.reveal',
    'secrets.update',
    'api-tokens.manage',
    'audit.read',
  ],
  operator: ['targets.read', 'secrets.reveal'],
  auditor: ['targets.read', 'audit.read'],
  approver: ['targets.read'],
};

/** Descriptions that complete "The role X does not allow ...". */
const ACTION_PHRASES: Record<Permission, string> = {
  'targets.read': 'reading targets and accounts',
  'targets.create': 'creating targets',
  'accounts.create': 'creating accounts',
  'secrets.reveal': 'revealing secrets',
  'secrets.update': 'changing secrets',
  'api-tokens.manage': 'managing API tokens',
  'audit.read': 'reading audit events',
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
