import { describe, expect, it } from 'vitest';

import { assertAllowed, isAllowed, type Permission } from '../../src/auth/policy.js';
import type { Role } from '../../src/auth/users.js';
import { StrongroomError } from '../../src/errors.js';

const expected: Record<Role, Permission[]> = {
  administrator: [
    'targets.read',
    'targets.create',
    'accounts.create',
    'audit.read',
    'people.read',
    'people.manage',
    'access.read',
    'secrets.reveal',
    'breakglass',
  ],
  operator: ['targets.read', 'access.read', 'access.request', 'secrets.reveal', 'secrets.checkout'],
  auditor: ['targets.read', 'audit.read', 'people.read', 'access.read'],
  approver: ['targets.read', 'access.read', 'access.approve'],
};

const permissions: Permission[] = [
  'targets.read',
  'targets.create',
  'accounts.create',
  'audit.read',
  'people.read',
  'people.manage',
  'access.read',
  'access.request',
  'access.approve',
  'secrets.reveal',
  'secrets.checkout',
  'breakglass',
];

describe('role policy', () => {
  for (const [role, granted] of Object.entries(expected) as Array<[Role, Permission[]]>) {
    for (const permission of permissions) {
      const allowed = granted.includes(permission);

      it(`${role} ${allowed ? 'may' : 'may not'} ${permission}`, () => {
        expect(isAllowed(role, permission)).toBe(allowed);
      });
    }
  }

  it('names the role, the action and the roles that may', () => {
    let error: unknown;
    try {
      assertAllowed('operator', 'targets.create');
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(StrongroomError);
    expect((error as StrongroomError).code).toBe('SR_FORBIDDEN');
    expect((error as StrongroomError).message).toBe(
      'The role operator does not allow creating targets. Ask for a user with one of these roles: administrator.',
    );
  });
});
