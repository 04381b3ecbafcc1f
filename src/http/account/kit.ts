// What every account page handler has at hand (the kit account.ts builds once) and the words the pages share;
// the route files import this and ../kit.js, never account.ts, so the account pages have no import cycle.
import type { Context, Middleware } from 'koa';
import type { Actor } from '../../auth/account.js';
import type { AppError } from '../../errors.js';
import type { NetworkClassifier } from '../../auth/network.js';
import type { WebauthnSettings } from '../../auth/passkey.js';
import type { UpstreamRegistry } from '../../auth/federation/registry.js';
import type { SecretBox } from '../../auth/secret-key.js';
import type { Interactions } from '../../oidc/interactions.js';
import type { Db } from '../../store/db.js';
import type { AccountAuth, AccountState } from '../account-auth.js';
import type { defaultPrefs } from '../../auth/alerts/prefs.js';
import type { Federation } from '../federation.js';
import type { Render } from '../views.js';

export interface AccountDeps {
  issuer: string;
  base: string;
  db: Db;
  render: Render;
  interactions: Interactions;
  box: SecretBox;
  webauthn: WebauthnSettings;
  classifier: NetworkClassifier;
  upstreams: UpstreamRegistry;
  federation: Federation;
  /** Sign-in alerts (/account/alerts), when the server runs them. */
  alerts?: AccountAlertSettings | undefined;
  /** Who is signed in, and the access decision for the account pages (built once in app.ts). */
  accountAuth: AccountAuth;
}

export interface AccountAlertSettings {
  /** The VAPID public key (base64url): the browser's applicationServerKey. */
  vapidPublicKey: string;
  notify: Parameters<typeof defaultPrefs>[0];
  emailEnabled: boolean;
}

/** What every account handler has at hand. */
export interface AccountKit {
  deps: AccountDeps;
  auth: AccountAuth;
  /** The signed-in user as the audit log records them. */
  actor(ctx: Context): Actor;
  account(ctx: Context): AccountState;
  /** 303 to an account page, optionally with a notice key from {@link notices}. */
  go(ctx: Context, path?: string, done?: keyof typeof notices): void;
  /** The account page with an error instead of a change. */
  showAccount(ctx: Context, extra?: { error?: string; status?: number }): Promise<void>;
  /** The account page with a refusal instead of a change: the page for orShow (http/kit.ts). */
  accountPage(ctx: Context, error: AppError): Promise<void>;
  /** Needs a fresh sign-in; otherwise signs in again and comes back to the account page `page(ctx)`. */
  fresh(page: string | ((ctx: Context) => string)): Middleware;
}

/** Messages shown after a change (by key, so a link cannot put words on the page). */
export const notices = {
  profile: 'Your profile is saved.',
  picture: 'Your picture is updated.',
  'picture-removed': 'Your picture is removed.',
  'passkey-added': 'Passkey added. You can use it to sign in.',
  'security-key-added': 'Security key added. You can use it to confirm your sign-ins.',
  renamed: 'Name saved.',
  'passkey-removed': 'Passkey removed.',
  'security-key-removed': 'Security key removed.',
  'totp-enrolled': 'Authenticator app set up. Sign-ins will ask for a code from it.',
  'totp-removed': 'Authenticator app removed.',
  password: 'Your password is changed.',
  'password-removed': 'Your password is removed. Sign in with your passkey from now on.',
  'session-ended': 'That session is signed out.',
  'app-revoked': 'That app no longer has access. It will ask you to sign in again.',
  'consent-forgotten': 'That app will ask again before it gets access.',
  linked: 'Account linked. You can use it to sign in.',
  unlinked: 'Account unlinked.',
} as const;

