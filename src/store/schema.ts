// Table types for kysely: the one description of what the database holds. Times are epoch seconds.
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  username: string;
  name: string;
  email: string | null;
  email_verified: number;
  picture: string | null;
  password_hash: string | null;
  disabled: number;
  created_at: number;
  updated_at: number;
  /** The latest finished sign-in (epoch seconds), null before the first: the lock screen's recent members. */
  last_sign_in_at: number | null;
}

export interface UserGroupsTable {
  user_id: string;
  group_name: string;
}

export interface ClientsTable {
  id: string;
  /** cluster: from an AccouchClient resource, id `<namespace>.<name>` (src/cluster/). */
  source: 'config' | 'cli' | 'cluster';
  /** The client as declared (config.ts clientSchema without id), JSON. */
  config: string;
  created_at: number;
  updated_at: number;
}

export interface OidcPayloadsTable {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: number | null;
  consumed_at: number | null;
  /**
   * accountId of sessions and grants (null for every other model), so a user's sessions and apps can be listed.
   * grant_id, user_code, uid and account_id are indexed only where not null (every search is an equality).
   */
  account_id: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_jwk: string;
  state: 'active' | 'retired';
  created_at: number;
  retired_at: number | null;
}

export interface SecretsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface LoginThrottleTable {
  key: string;
  failures: number;
  first_failure_at: number;
  locked_until: number;
  /** Failures since the last success, never reset by time (NIST 800-63B: at most 100). */
  consecutive: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  event: string;
  actor: string | null;
  ip: string | null;
  detail: string;
  /** 1 until the alert fan-out (auth/alerts) has looked at the event: set in the same insert as the event. */
  alert_pending: Generated<number>;
}

export interface WebauthnCredentialsTable {
  /** base64url credential id */
  id: string;
  user_id: string;
  /** base64url COSE public key */
  public_key: string;
  counter: number;
  /** JSON array of transports */
  transports: string;
  kind: 'passkey' | 'security_key';
  name: string;
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
}

export interface WebauthnChallengesTable {
  id: string;
  ceremony: 'registration' | 'authentication';
  /** What the challenge is for: an interaction uid, an account session, a setup token id. */
  binding: string;
  user_id: string | null;
  challenge: string;
  expires_at: number;
}

export interface TotpSecretsTable {
  user_id: string;
  /** encrypted with the secret key */
  secret: string;
  last_step: number;
  created_at: number;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: string;
  used_at: number | null;
}

export interface RememberedConsentsTable {
  user_id: string;
  client_id: string;
  /** Space-separated scopes, sorted. */
  scopes: string;
  updated_at: number;
}

export interface AvatarsTable {
  user_id: string;
  content_type: string;
  /** base64 */
  data: string;
  etag: string;
  updated_at: number;
}

export interface LinkTokensTable {
  id: string;
  token_hash: string;
  /** device: "add a passkey on another device" from the account page */
  purpose: 'setup' | 'invite' | 'reset' | 'device';
  user_id: string | null;
  /** JSON: what the link's holder has entered so far */
  state: string;
  expires_at: number;
  used_at: number | null;
  created_at: number;
  /** Keyed hash of the browser that claimed the link by submitting on it first; null while unclaimed */
  claim_hash?: string | null;
  /** Keyed hash of the short code that can be typed instead of the link */
  code_hash?: string | null;
}

export interface SignInsTable {
  account_id: string;
  auth_time: number;
  network: 'home' | 'outside';
  /** JSON array */
  amr: string;
  acr: string;
}

export interface UpstreamsTable {
  id: string;
  /** The upstream as entered in the owner console (config.ts upstreamSchema), JSON; its client secret sealed. */
  config: string;
  created_at: number;
  updated_at: number;
}

export interface FederatedIdentitiesTable {
  upstream_id: string;
  /** Who vouches for the subject: the OpenID issuer, or GitHub's web address. */
  issuer: string;
  /** The upstream's stable id for the person (GitHub's numeric user id, an OpenID `sub`). */
  subject: string;
  user_id: string;
  /** Login and email at link time, to show which upstream account is linked. */
  login: string | null;
  email: string | null;
  linked_at: number;
  last_used_at: number | null;
}

export interface FederationStatesTable {
  /** The OAuth `state` sent to the upstream. */
  id: string;
  upstream_id: string;
  purpose: 'login' | 'link';
  /** The interaction uid (login) or the account session id (link) the sign-in belongs to. */
  binding: string;
  user_id: string | null;
  /** PKCE code verifier and OpenID nonce. */
  verifier: string;
  nonce: string;
  /** JSON, once the upstream answered: who signed in, or why not. */
  result: string | null;
  expires_at: number;
}

export interface AlertsTable {
  id: string;
  /** Who is told. */
  recipient_id: string;
  /** Whose account it is about: the one "This wasn't me" signs out. */
  subject_id: string;
  kind: string;
  audit_id: number;
  at: number;
  /** JSON: what the message says (network, app, browser, address). */
  detail: string;
  expires_at: number;
  /** When "This wasn't me" was confirmed (single use). */
  used_at: number | null;
}

export interface AlertOutboxTable {
  id: string;
  alert_id: string;
  channel: 'push' | 'email' | 'webhook';
  /** A push subscription id, an email address, or '' for the webhook. */
  target: string;
  attempts: number;
  /** Not before then: the next retry, or the lease of the sender that took it. */
  next_at: number;
  created_at: number;
}

export interface PushSubscriptionsTable {
  id: string;
  user_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  /** The browser, as the person sees it on /account ("Chrome on Android"). */
  label: string;
  created_at: number;
}

export interface AlertPrefsTable {
  user_id: string;
  /** JSON: per alert kind, the channels chosen. */
  prefs: string;
  updated_at: number;
}

export interface AlertSeenTable {
  user_id: string;
  /** 'browser', 'app' or 'lock'. */
  kind: string;
  value: string;
  first_at: number;
}

export interface StepUpTable {
  user_id: string;
  since: number;
}

export interface ForwardAuthAppsTable {
  id: string;
  /** Who declared it: the YAML file, the CLI, the owner console, or a Kubernetes resource. */
  source: 'config' | 'cli' | 'console' | 'cluster';
  /** The app as declared (config.ts forwardAuthAppSchema without id), JSON. */
  config: string;
  created_at: number;
  updated_at: number;
}

export interface ForwardAuthHostsTable {
  host: string;
  app_id: string;
}

export interface Database {
  users: UsersTable;
  user_groups: UserGroupsTable;
  clients: ClientsTable;
  oidc_payloads: OidcPayloadsTable;
  signing_keys: SigningKeysTable;
  secrets: SecretsTable;
  login_throttle: LoginThrottleTable;
  audit_log: AuditLogTable;
  webauthn_credentials: WebauthnCredentialsTable;
  webauthn_challenges: WebauthnChallengesTable;
  totp_secrets: TotpSecretsTable;
  recovery_codes: RecoveryCodesTable;
  avatars: AvatarsTable;
  link_tokens: LinkTokensTable;
  sign_ins: SignInsTable;
  upstreams: UpstreamsTable;
  federated_identities: FederatedIdentitiesTable;
  federation_states: FederationStatesTable;
  remembered_consents: RememberedConsentsTable;
  alerts: AlertsTable;
  alert_outbox: AlertOutboxTable;
  push_subscriptions: PushSubscriptionsTable;
  alert_prefs: AlertPrefsTable;
  alert_seen: AlertSeenTable;
  step_up: StepUpTable;
  forward_auth_apps: ForwardAuthAppsTable;
  forward_auth_hosts: ForwardAuthHostsTable;
}
