/**
 * The registry of every error a user or a caller of Strongroom can meet. Each code is stable: scripts,
 * monitoring and the documentation in docs/errors.md rely on it, so a code is never renamed or reused.
 * The message of each thrown error names the value at fault and the fix; the summary here is what the
 * condition is.
 */
export const errorRegistry = {
  // Configuration and files.
  SR_CONFIG_HOME_MISSING: { status: 500, summary: 'The Strongroom home folder does not exist.' },
  SR_CONFIG_HOME_NOT_EMPTY: {
    status: 500,
    summary: 'init was pointed at a home folder that already has a configuration.',
  },
  SR_CONFIG_FILE_MISSING: { status: 500, summary: 'A configuration file is missing.' },
  SR_CONFIG_SYNTAX: { status: 500, summary: 'A configuration file has a syntax error.' },
  SR_CONFIG_KEY_MISSING: { status: 500, summary: 'A required configuration key is missing.' },
  SR_CONFIG_VALUE_INVALID: { status: 500, summary: 'A configuration value is invalid.' },
  SR_CONFIG_LISTEN_NOT_LOOPBACK: {
    status: 500,
    summary: 'The service would listen beyond loopback without TLS.',
  },

  // The file master key.
  SR_KEYFILE_MISSING: { status: 500, summary: 'The master key file does not exist.' },
  SR_KEYFILE_PERMISSIONS: {
    status: 500,
    summary: 'The master key file can be read or written by other users.',
  },
  SR_KEYFILE_INVALID: {
    status: 500,
    summary: 'The master key file is not a regular file, or does not contain a 32-byte key.',
  },
  SR_KEYFILE_EXISTS: { status: 500, summary: 'A master key file already exists at the path.' },

  // The HSM master key over PKCS#11.
  SR_HSM_LIBRARY_LOAD_FAILED: { status: 503, summary: 'The PKCS#11 library could not be loaded.' },
  SR_HSM_INIT_FAILED: { status: 503, summary: 'C_Initialize failed.' },
  SR_HSM_SLOT_NOT_FOUND: { status: 503, summary: 'The configured slot does not exist.' },
  SR_HSM_TOKEN_NOT_FOUND: { status: 503, summary: 'No token has the configured label.' },
  SR_HSM_TOKEN_NOT_INITIALIZED: {
    status: 503,
    summary: 'The token in the slot is not initialised.',
  },
  SR_HSM_PIN_MISSING: { status: 503, summary: 'No HSM PIN was supplied.' },
  SR_HSM_PIN_SEALED_ELSEWHERE: {
    status: 503,
    summary: 'The sealed HSM PIN was written on another host.',
  },
  SR_HSM_PIN_SEAL_INVALID: {
    status: 503,
    summary: 'The sealed HSM PIN or its seal key is damaged or missing.',
  },
  SR_HSM_PIN_FILE_PERMISSIONS: {
    status: 503,
    summary: 'The HSM PIN file can be read or written by other users.',
  },
  SR_HSM_PIN_INCORRECT: { status: 503, summary: 'The token rejected the PIN.' },
  SR_HSM_PIN_LOCKED: { status: 503, summary: 'The token has locked the user PIN.' },
  SR_HSM_LOGIN_FAILED: { status: 503, summary: 'C_Login failed for a reason other than the PIN.' },
  SR_HSM_KEY_NOT_FOUND: { status: 503, summary: 'No secret key has the configured label.' },
  SR_HSM_KEY_AMBIGUOUS: { status: 503, summary: 'Several secret keys have the configured label.' },
  SR_HSM_KEY_ALIAS_BLANK: {
    status: 503,
    summary: 'The configured key label has leading or trailing blanks.',
  },
  SR_HSM_KEY_WRONG_TYPE: { status: 503, summary: 'The master key is not an AES key.' },
  SR_HSM_KEY_WRONG_LENGTH: { status: 503, summary: 'The master key is not 256 bits long.' },
  SR_HSM_KEY_EXTRACTABLE: {
    status: 503,
    summary: 'The master key can be extracted from the token.',
  },
  SR_HSM_KEY_NOT_SENSITIVE: { status: 503, summary: 'The master key is not marked sensitive.' },
  SR_HSM_KEY_USAGE_MISSING: {
    status: 503,
    summary: 'The master key lacks the usage Strongroom needs.',
  },
  SR_HSM_MECHANISM_UNSUPPORTED: {
    status: 503,
    summary: 'The token offers neither AES-GCM nor AES key wrap.',
  },
  SR_HSM_UNAVAILABLE: { status: 503, summary: 'The HSM cannot be used at the moment.' },
  SR_HSM_OPERATION_FAILED: { status: 503, summary: 'A PKCS#11 operation failed.' },
  SR_HSM_TOKEN_AMBIGUOUS: { status: 503, summary: 'Several tokens have the configured label.' },
  SR_HSM_TOOL_FAILED: { status: 500, summary: 'A SoftHSM or OpenSC command is missing or failed.' },
  SR_HSM_FAILOVER_KEY_MISMATCH: {
    status: 503,
    summary: 'A member of the HSM failover group holds another key or mechanism than the first.',
  },
  SR_HSM_KEY_LABEL_IN_USE: {
    status: 409,
    summary: 'An object on the token has the label that a new master key would get.',
  },

  // The key hierarchy.
  SR_KEY_PROVIDER_MISMATCH: {
    status: 503,
    summary: 'The configured provider does not hold the key that wraps the stored DEKs.',
  },
  SR_KEY_PROVIDER_UNAVAILABLE: {
    status: 503,
    summary: 'A DEK names a master key provider that is not configured.',
  },
  SR_KEY_CANARY_MISMATCH: { status: 503, summary: 'The master key does not open its canary.' },
  SR_DECRYPT_FAILED: { status: 500, summary: 'A stored value could not be decrypted or verified.' },
  SR_DEK_MIGRATION_LOCKED: {
    status: 409,
    summary: 'Another DEK migration holds the database-wide migration lock.',
  },
  SR_DEK_MIGRATION_STANDBY: {
    status: 500,
    summary: 'The database is a read-only standby, so DEKs cannot be migrated there.',
  },
  SR_DEK_MIGRATION_LOCK_LOST: {
    status: 503,
    summary: 'A DEK migration lost its database-wide lock, so it stopped.',
  },
  SR_DEK_MIGRATION_SOURCE_INVALID: {
    status: 500,
    summary: 'The source master key does not open its canary or the DEKs it should wrap.',
  },
  SR_DEK_MIGRATION_VERIFY_FAILED: {
    status: 500,
    summary:
      'The target key did not open a newly wrapped DEK to the same bytes, so the DEK was not moved.',
  },
  SR_DEK_MIGRATION_INCOMPLETE: {
    status: 500,
    summary: 'A DEK migration ended with DEKs that failed or that the target key cannot open.',
  },
  SR_DEK_RENEW_SAME_KEY: {
    status: 409,
    summary: "A renewal's target is its own source key.",
  },
  SR_DEK_RENEW_SOURCE_EMPTY: {
    status: 409,
    summary:
      'No DEK is under the source key while other keys wrap DEKs, so a renewal would move nothing.',
  },
  SR_DEK_MIGRATION_KEYS_REMAIN: {
    status: 409,
    summary:
      'DEKs remain under master keys other than the source and the target, so the provider settings were not changed.',
  },

  // The database.
  SR_DB_URL_INVALID: {
    status: 500,
    summary: 'The database URL is not a sqlite: path or a postgres:// URL.',
  },
  SR_DB_UNREACHABLE: { status: 503, summary: 'The database cannot be reached.' },
  SR_DB_SCHEMA_NEWER: {
    status: 500,
    summary: 'The database schema is newer than this Strongroom release.',
  },
  SR_DB_MIGRATION_FAILED: { status: 500, summary: 'A schema migration failed.' },

  // Users and the REST API.
  SR_USER_EXISTS: { status: 409, summary: 'A user with the name exists.' },
  SR_USER_INVALID: { status: 400, summary: 'The user name, role or password is not acceptable.' },
  SR_LAST_ADMINISTRATOR: {
    status: 409,
    summary: 'The change would leave no active administrator.',
  },
  SR_SELF_ADMINISTRATION: {
    status: 409,
    summary: 'An administrator cannot disable their own user or change their own role.',
  },
  SR_AUTH_FAILED: { status: 401, summary: 'The user name or password is wrong.' },
  SR_AUTH_REQUIRED: { status: 401, summary: 'The request has no valid bearer token.' },
  SR_FORBIDDEN: { status: 403, summary: 'The user role does not allow the action.' },
  SR_NOT_FOUND: { status: 404, summary: 'The requested object does not exist.' },
  SR_CONFLICT: { status: 409, summary: 'An object with the same name exists.' },
  SR_VALIDATION_FAILED: { status: 400, summary: 'The request body or parameters are invalid.' },
  SR_USER_LOCKED: {
    status: 401,
    summary: 'The user is locked after repeated failed logins until the lock ends or is cleared.',
  },
  SR_RATE_LIMITED: { status: 429, summary: 'The client sent too many login requests.' },
  SR_TOTP_REQUIRED: {
    status: 401,
    summary: 'The user has a TOTP second factor and the login has no code.',
  },
  SR_TOTP_ENROLMENT_REQUIRED: {
    status: 403,
    summary: 'The session may only enrol a TOTP second factor.',
  },
  SR_TOTP_ALREADY_ENROLLED: {
    status: 409,
    summary: 'The user has a confirmed TOTP second factor.',
  },
  SR_TOTP_NOT_ENROLLING: {
    status: 409,
    summary: 'The user has no TOTP enrolment waiting for confirmation.',
  },
  SR_TOTP_CODE_INVALID: {
    status: 400,
    summary: 'The TOTP code does not match the secret being enrolled.',
  },

  // The access workflow.
  SR_ACCESS_NOT_GRANTED: {
    status: 403,
    summary: 'The user has no active access grant for the account.',
  },
  SR_ACCESS_POLICY_MISSING: {
    status: 409,
    summary: 'The target has no access policy, so access to its accounts cannot be requested.',
  },
  SR_ACCESS_SELF_APPROVAL: {
    status: 403,
    summary: 'A user cannot approve or confirm their own request.',
  },
  SR_ACCESS_REQUEST_NOT_PENDING: {
    status: 409,
    summary: 'The access request was decided already.',
  },
  SR_ACCESS_ALREADY_DECIDED: {
    status: 409,
    summary: 'The approver has decided on the access request already.',
  },
  SR_ACCOUNT_CHECKED_OUT: {
    status: 409,
    summary: 'The account is checked out by another user.',
  },
  SR_ACCOUNT_NOT_CHECKED_OUT: {
    status: 409,
    summary: 'The account is not checked out by the user.',
  },
  SR_AUDIT_WRITE_FAILED: {
    status: 503,
    summary: 'The audit event could not be written, so the action was refused.',
  },
  SR_AUDIT_KEY_NOT_FOUND: {
    status: 503,
    summary: 'The key that MACs audit checkpoints is not on the token.',
  },
  SR_AUDIT_KEY_INVALID: {
    status: 503,
    summary: 'The audit checkpoint key has the wrong type or attributes.',
  },
  SR_AUDIT_EXPORT_FAILED: {
    status: 500,
    summary: 'Audit events could not be written to the export file or socket.',
  },
  SR_AUDIT_ROLLOVER_FAILED: {
    status: 500,
    summary:
      'The DEKs moved to the new master key, but the audit key rollover could not be written.',
  },
  SR_CLI_USAGE_INVALID: {
    status: 400,
    summary: 'A command-line option or argument is missing, invalid or conflicts with another.',
  },
  SR_INTERNAL: { status: 500, summary: 'An unexpected error occurred.' },

  // Secrets, imports and application access.
  SR_SECRET_INVALID: {
    status: 400,
    summary:
      'A secret does not match its secret type, such as an SSH private key that cannot be parsed.',
  },
  SR_SECRET_VERSION_CONFLICT: {
    status: 409,
    summary: 'The secret of the account changed while a new version was being stored.',
  },
  SR_IMPORT_ROWS_INVALID: {
    status: 400,
    summary: 'A CSV import has invalid rows, so nothing was imported.',
  },
  SR_API_TOKEN_REJECTED: {
    status: 401,
    summary: 'The API token is missing, unknown, expired, revoked or of the wrong kind.',
  },
  SR_API_TOKEN_SCOPE: { status: 403, summary: 'The API token is not scoped to the account.' },
  SR_API_TOKEN_ADDRESS: {
    status: 403,
    summary: 'The client address is outside the allow-list of the API token.',
  },

  // The web console.
  SR_CONSOLE_CSRF_INVALID: {
    status: 403,
    summary: 'A console form was posted without the anti-forgery token of its session.',
  },
  SR_CONSOLE_SESSION_IDLE: {
    status: 401,
    summary: 'The console session ended after a period without activity.',
  },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof errorRegistry;

/** Optional context of an error: the underlying cause and fields safe to log and return. */
export interface ErrorOptions {
  cause?: unknown;
  details?: Record<string, string | number | boolean>;
}

/**
 * An error with a stable code from the registry. The message is written for the administrator who
 * meets it and never contains a secret, a PIN or key material.
 */
export class StrongroomError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, string | number | boolean>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StrongroomError';
    this.code = code;
    this.status = errorRegistry[code].status;
    this.details = options.details ?? {};
  }
}

/** Tells whether a value is a Strongroom error, optionally with the given code. */
export function isStrongroomError(value: unknown, code?: ErrorCode): value is StrongroomError {
  return value instanceof StrongroomError && (code === undefined || value.code === code);
}
