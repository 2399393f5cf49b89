import type { AuditLog } from '../audit/types.js';
import { StrongroomError } from '../errors.js';
import type { UserRecord, UserRepository } from '../store/repositories.js';
import { openTotpSecret, sealTotpSecret, type TotpSecretKeys } from './totp-secrets.js';
import { generateTotpSecret, matchTotpCode, TOTP_PERIOD_SECONDS, totpUri } from './totp.js';

/** The secret and URI that set up an authenticator app, shown once and never stored in plain text. */
export interface TotpEnrolment {
  otpauthUri: string;
  secret: string;
}

export interface EnrolmentOptions {
  users: Pick<
    UserRepository,
    'findUserById' | 'setPendingTotp' | 'confirmTotp' | 'deleteSessionsOfUser'
  >;
  audit: AuditLog;
  totpKeys: TotpSecretKeys;
  now?: () => Date;
}

/** The enrolling user and their client address, for the audit events. */
export interface EnrolmentActor {
  userId: string;
  username: string;
  clientAddress: string;
}

/** Enrolment of the TOTP second factor: start with a new secret, then confirm it with a code. */
export class TotpEnrolmentService {
  readonly #options: EnrolmentOptions;
  readonly #now: () => Date;

  constructor(options: EnrolmentOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Stores a new secret, sealed, as the user's pending enrolment and returns it with its otpauth
   * URI. Calling it again replaces a pending secret. Throws SR_TOTP_ALREADY_ENROLLED once confirmed.
   */
  async begin(actor: EnrolmentActor): Promise<TotpEnrolment> {
    const user = await this.#requireUser(actor.userId);
    if (user.totp?.confirmedAt !== undefined) {
      throw new StrongroomError(
        'SR_TOTP_ALREADY_ENROLLED',
        `User ${user.username} has a confirmed TOTP second factor. An administrator can reset it with 'strongroom user reset-totp' or POST /api/v1/users/${user.id}/reset-totp.`,
      );
    }

    const secret = generateTotpSecret();
    const { dek, ciphertext } = await sealTotpSecret(this.#options.totpKeys, user.id, secret);
    await this.#options.users.setPendingTotp(user.id, dek, ciphertext);
    await this.#record(actor, 'success', { stage: 'started' });

    return { otpauthUri: totpUri(secret, user.username), secret };
  }

  /**
   * Confirms the pending secret with a code from the app and ends every session of the user, so
   * that the next login uses the second factor. Throws SR_TOTP_NOT_ENROLLING without a pending
   * secret and SR_TOTP_CODE_INVALID for a code that does not match.
   */
  async confirm(actor: EnrolmentActor, code: string): Promise<void> {
    const user = await this.#requireUser(actor.userId);
    const totp = user.totp;
    if (totp === undefined || totp.confirmedAt !== undefined) {
      throw new StrongroomError(
        'SR_TOTP_NOT_ENROLLING',
        `User ${user.username} has no TOTP enrolment waiting for a code. Start one with POST /api/v1/auth/totp/enrol.`,
      );
    }

    const secret = await openTotpSecret(this.#options.totpKeys, user.id, totp);
    const at = this.#now();
    const step = matchTotpCode(secret, code, at);
    if (step === undefined) {
      await this.#record(actor, 'failure', { stage: 'confirm', failure: 'wrong totp code' });
      throw new StrongroomError(
        'SR_TOTP_CODE_INVALID',
        'The code does not match the new TOTP secret. Check the clock of the device and enter the code the app shows now.',
      );
    }

    const confirmed = await this.#options.users.confirmTotp(user.id, at.toISOString(), step);
    if (!confirmed) {
      throw new StrongroomError(
        'SR_TOTP_NOT_ENROLLING',
        `The TOTP enrolment of user ${user.username} was confirmed or replaced meanwhile. Log in again.`,
      );
    }
    await this.#record(actor, 'success', { stage: 'confirmed' });
    await this.#options.users.deleteSessionsOfUser(user.id);
  }

  async #requireUser(id: string): Promise<UserRecord> {
    const user = await this.#options.users.findUserById(id);
    if (user === undefined) {
      throw new StrongroomError('SR_NOT_FOUND', `User ${id} does not exist.`);
    }
    return user;
  }

  async #record(
    actor: EnrolmentActor,
    outcome: 'success' | 'failure',
    details: Record<string, string>,
  ): Promise<void> {
    await this.#options.audit.record({
      actor: actor.username,
      action: 'auth.totp.enrol',
      objectType: 'user',
      objectId: actor.userId,
      outcome,
      reason: '',
      clientAddress: actor.clientAddress,
      details,
    });
  }
}

/**
 * Enrols a new TOTP secret for a user at once, without a confirming code, and returns it. Only for
 * the quick start, where the person at the terminal is the new administrator and reads the secret
 * from the output. The last accepted step is set two steps back, so that every code of the skew window
 * works at the first login.
 */
export async function enrolTotpDirectly(
  options: Pick<EnrolmentOptions, 'users' | 'totpKeys'>,
  user: { id: string; username: string },
  now: Date,
): Promise<TotpEnrolment> {
  const secret = generateTotpSecret();
  const { dek, ciphertext } = await sealTotpSecret(options.totpKeys, user.id, secret);
  await options.users.setPendingTotp(user.id, dek, ciphertext);

  const step = Math.floor(now.getTime() / 1000 / TOTP_PERIOD_SECONDS) - 2;
  await options.users.confirmTotp(user.id, now.toISOString(), step);
  return { otpauthUri: totpUri(secret, user.username), secret };
}
