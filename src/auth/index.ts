export {
  hashPassword,
  validatePassword,
  verifyPassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
} from './passwords.js';
export { assertAllowed, isAllowed, type Permission } from './policy.js';
export {
  createAuthService,
  DEFAULT_SESSION_TTL_SECONDS,
  type AuthenticatedUser,
  type AuthService,
  type AuthServiceOptions,
  type LoginRequest,
  type LoginResult,
  type SessionRepository,
} from './service.js';
export { enrolTotpDirectly, TotpEnrolmentService, type TotpEnrolment } from './enrolment.js';
export { generateTotpCode, matchTotpCode } from './totp.js';
export {
  createUser,
  isRole,
  requiresTotp,
  ROLES,
  USERNAME_MAX_LENGTH,
  validateRole,
  validateUsername,
  type CreateUserOptions,
  type NewUser,
  type Role,
  type UserView,
} from './users.js';
