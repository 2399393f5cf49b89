import pkcs11js from 'pkcs11js';
import { isStrongroomError, StrongroomError } from '../../errors.js';
import type { HsmLog } from './hsm-log.js';
import { ckrName, ckrOf, describeFailure } from './pkcs11-failures.js';

/** The part of pkcs11js that logging in needs, so that tests can count or fail the call. */
export interface LoginApi {
  C_Login(session: Buffer, userType: number, pin?: string): void;
}

/** The token that the login is for: its label and CKF_* flags from C_GetTokenInfo. */
export interface LoginToken {
  label: string;
  flags: number;
}

/**
 * Logs the user in on `session`. In PKCS#11 the login state belongs to the token, not the
 * session, so this runs once for the first session of a pool and the other sessions share it.
 * CKR_USER_ALREADY_LOGGED_IN counts as success.
 *
 * Each call makes at most one C_Login. A rejected PIN is never retried, because HSMs lock or wipe the
 * token after a few wrong attempts. The PIN never appears in an error or a log line.
 */
export function loginUser(
  api: LoginApi,
  session: Buffer,
  pin: string,
  token: LoginToken,
  log: HsmLog,
): void {
  if (pin === '') {
    throw new StrongroomError(
      'SR_HSM_PIN_MISSING',
      `no user PIN was supplied for the token '${token.label}'. Put the PIN in the file named by STRONGROOM_HSM_PIN_FILE (mode 0600), or in STRONGROOM_HSM_PIN.`,
    );
  }

  if ((token.flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) {
    throw pinLocked(token.label, 'CKF_USER_PIN_LOCKED');
  }

  if ((token.flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) !== 0) {
    log.warn('the token locks the user PIN after one more wrong attempt', {
      tokenLabel: token.label,
    });
  } else if ((token.flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) !== 0) {
    log.warn('the token has counted wrong user PINs since the last good login', {
      tokenLabel: token.label,
    });
  }

  try {
    api.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (error) {
    if (ckrOf(error) === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
      log.debug('the token was already logged in', { tokenLabel: token.label });
      return;
    }
    throw loginError(error, token.label);
  }
}

/** Converts a C_Login failure into the error that names the cause and what to do. */
export function loginError(error: unknown, tokenLabel: string): StrongroomError {
  const code = ckrOf(error);
  const details = { tokenLabel, ckr: describeFailure(error) };

  switch (code) {
    case pkcs11js.CKR_PIN_INCORRECT:
    case pkcs11js.CKR_PIN_INVALID:
    case pkcs11js.CKR_PIN_LEN_RANGE:
      return new StrongroomError(
        'SR_HSM_PIN_INCORRECT',
        `the token '${tokenLabel}' rejected the user PIN (${ckrName(code)}). Strongroom does not try again, ` +
          `because HSMs lock the PIN after a few wrong attempts. Correct the PIN in the file named by STRONGROOM_HSM_PIN_FILE, or in STRONGROOM_HSM_PIN, before trying again.`,
        { details },
      );
    case pkcs11js.CKR_PIN_LOCKED:
      return pinLocked(tokenLabel, 'CKR_PIN_LOCKED');
    case pkcs11js.CKR_PIN_EXPIRED:
      return new StrongroomError(
        'SR_HSM_LOGIN_FAILED',
        `the user PIN of the token '${tokenLabel}' has expired (CKR_PIN_EXPIRED). Change it with the HSM's tool, then put the new PIN in the file named by STRONGROOM_HSM_PIN_FILE.`,
        { details },
      );
    case pkcs11js.CKR_USER_PIN_NOT_INITIALIZED:
      return new StrongroomError(
        'SR_HSM_LOGIN_FAILED',
        `the token '${tokenLabel}' has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED). The security officer must set one (softhsm2-util --init-token sets it for SoftHSM).`,
        { details },
      );
    default:
      return new StrongroomError(
        'SR_HSM_LOGIN_FAILED',
        `C_Login on the token '${tokenLabel}' failed with ${details.ckr}.`,
        {
          cause: error,
          details,
        },
      );
  }
}

function pinLocked(tokenLabel: string, reason: string): StrongroomError {
  return new StrongroomError(
    'SR_HSM_PIN_LOCKED',
    `the token '${tokenLabel}' has locked the user PIN (${reason}). The security officer must unlock it with the HSM's tool ` +
      `(pkcs11-tool --unlock-pin --login --login-type so for many tokens) before Strongroom can log in.`,
    { details: { tokenLabel, ckr: reason } },
  );
}

/**
 * Logs in with one PIN, and never again after the token rejected it, because a second try could
 * lock the PIN. Reconnections log in through the same guard.
 */
export class PinGuard {
  private rejected: StrongroomError | undefined;

  constructor(
    private readonly pin: string,
    private readonly log: HsmLog,
  ) {}

  /** Runs loginUser(), or throws the earlier rejection without calling C_Login. */
  login(api: LoginApi, session: Buffer, token: LoginToken): void {
    if (this.rejected !== undefined) {
      throw this.rejected;
    }
    try {
      loginUser(api, session, this.pin, token, this.log);
    } catch (error) {
      if (
        isStrongroomError(error, 'SR_HSM_PIN_INCORRECT') ||
        isStrongroomError(error, 'SR_HSM_PIN_LOCKED')
      ) {
        this.rejected = error;
      }
      throw error;
    }
  }
}
