// What every owner console handler has at hand (the kit admin.ts builds once) and the console's notices; the
// route files import this and ../kit.js, never admin.ts, so the console has no import cycle.
import type { Context, Middleware } from 'koa';
import type { Actor } from '../../auth/account.js';
import type { UpstreamRegistry } from '../../auth/federation/registry.js';
import type { NetworkClassifier } from '../../auth/network.js';
import type { SecretBox } from '../../auth/secret-key.js';
import type { Db } from '../../store/db.js';
import type { AccountAuth, AccountState } from '../account-auth.js';
import type { ShowOptions } from '../kit.js';
import type { Render } from '../views.js';

export interface AdminAlertChannels {
  /** "host:port (starttls)" when email is set up. */
  email?: string | undefined;
  webhook: boolean;
  /** Sends the test message; throws with the mail server's answer when it refuses. */
  sendTestEmail?: ((to: string) => Promise<void>) | undefined;
}

export interface AdminDeps {
  issuer: string;
  base: string;
  db: Db;
  render: Render;
  box: SecretBox;
  classifier: NetworkClassifier;
  /** Makes a new signing key set active (oidc/keys.ts, handed in by main). */
  rotateKeys: () => Promise<unknown>;
  upstreams: UpstreamRegistry;
  /** Sign-in alert channels, for the Alerts page (its test message): absent when alerts are not wired. */
  alertChannels?: AdminAlertChannels | undefined;
  /** Who is signed in, and the access decision for the console (built once in app.ts). */
  accountAuth: AccountAuth;
}

/** Messages shown after a change (by key, so a link cannot put words on the page). */
export const adminNotices = {
  'redirects-saved': 'Redirect URIs saved.',
  'auth-method-saved': 'Saved: the app must now send its secret that way.',
  'keys-saved': 'Keys saved: the app must now sign its requests with one of them (private_key_jwt). It has no secret any more.',
  'app-removed': 'The app is removed: its tokens no longer work.',
  'groups-saved': 'Groups saved. Apps see them at the next sign-in.',
  disabled: 'The user is disabled and signed out everywhere.',
  enabled: 'The user can sign in again.',
  unlocked: 'Password sign-in is open again for this user.',
  'session-revoked': 'That session is signed out, and the apps it signed in to lost their access.',
  'upstream-added': 'Sign-in service added. The sign-in page now offers it.',
  'upstream-removed': 'Sign-in service removed. Accounts linked to it can no longer use it.',
  'forward-auth-removed': 'The app is no longer protected by Accouch: take its forward-auth out of the proxy too.',
} as const;

export type Section = 'overview' | 'apps' | 'forward-auth' | 'users' | 'upstreams' | 'sessions' | 'keys' | 'audit' | 'alerts';

/** What every console handler has at hand. */
export interface AdminKit {
  deps: AdminDeps;
  auth: AccountAuth;
  requireAdmin: Middleware;
  /** Needs a sign-in at most five minutes old; otherwise signs in again and comes back to `page` under /admin. */
  fresh(page: string | ((ctx: Context) => string)): Middleware;
  actor(ctx: Context): Actor;
  admin(ctx: Context): AccountState;
  /** 303 to a console page, optionally with a notice key. */
  go(ctx: Context, path: string, done?: keyof typeof adminNotices): void;
  /** Renders a console view with the navigation, the notice from ?done= and an optional error. */
  show(ctx: Context, view: string, section: Section, data: Record<string, unknown>, status?: number): void;
}

/**
 * How the console shows a refusal (orShow in http/kit.ts): on the page the change came from, except a missing
 * app, user or service, which is the error middleware's 404 page.
 */
export const consoleRefusals: ShowOptions = { rethrow: ['not_found'] };

