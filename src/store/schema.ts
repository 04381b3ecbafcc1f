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
}

export interface UserGroupsTable {
  user_id: string;
  group_name: string;
}

export interface ClientsTable {
  id: string;
  source: 'config' | 'cli';
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
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  event: string;
  actor: string | null;
  ip: string | null;
  detail: string;
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
}
