import type { ProviderStatus } from '../keys/types.js';
import type { SecretType } from './secret-types.js';

/** The acting user and where the request came from, recorded in every audit event. */
export interface Actor {
  userId: string;
  username: string;
  role: string;
  clientAddress: string;
}

export interface TargetView {
  id: string;
  name: string;
  address: string;
  description: string;
  createdAt: string;
}

/** An account as listed: never its secret. */
export interface AccountView {
  id: string;
  targetId: string;
  username: string;
  description: string;
  secretVersion: number;
  /** The type of the current secret version. */
  secretType: string;
  createdAt: string;
  updatedAt: string;
  /** True once a checkout of the account ended, until the secret is replaced. */
  rotationRequired: boolean;
}

export interface NewTarget {
  name: string;
  address: string;
  description: string;
}

export interface NewAccount {
  username: string;
  description: string;
  secret: string;
  /** `password` when missing. */
  secretType?: SecretType;
}

/** A decrypted secret and the version that was decrypted. */
export interface RevealedSecret {
  secret: string;
  secretVersion: number;
}

/**
 * The vault: targets, accounts and their secrets. Reveal writes its audit event before it returns
 * the secret, and refuses with SR_AUDIT_WRITE_FAILED when the event cannot be written.
 */
export interface VaultService {
  createTarget(input: NewTarget, actor: Actor): Promise<TargetView>;
  listTargets(): Promise<TargetView[]>;
  getTarget(id: string): Promise<TargetView>;
  createAccount(targetId: string, input: NewAccount, actor: Actor): Promise<AccountView>;
  listAccounts(targetId: string): Promise<AccountView[]>;
  getAccount(id: string): Promise<AccountView>;
  /**
   * Decrypts the secret and records `secret.reveal` with `details` added. Callers check the access
   * grant first: the vault itself decides no access.
   */
  revealSecret(
    accountId: string,
    reason: string,
    actor: Actor,
    details?: Record<string, string | number | boolean>,
  ): Promise<RevealedSecret>;
}

/** The body of GET /health: the providers and whether the master key is usable. */
export interface HealthReport {
  healthy: boolean;
  activeProvider: string;
  providers: ProviderStatus[];
  database: { dialect: string; reachable: boolean };
}

export interface HealthService {
  check(): Promise<HealthReport>;
}
