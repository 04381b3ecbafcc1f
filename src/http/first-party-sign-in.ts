// Signing a browser in through one of Accouch's own clients (the account pages, forward-auth): the redirect to
// /auth with state and PKCE, and the signed cookie that carries the state and where to go back until the callback.
// The code is never redeemed (oidc-provider's session is what counts), but the client sends PKCE like every other.
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { seeOther } from './kit.js';

const stateTtl = 10 * 60_000;

export interface FirstPartySignIn {
  /** The state cookie's name, and its options (signed, path-scoped to the pages that use it). */
  cookie: string;
  cookieOptions(ctx: Context): { signed: true; httpOnly: true; sameSite: 'lax'; path: string; secure: boolean; overwrite: true };
  /** The issuer without a trailing slash. */
  root: string;
  clientId: string;
  redirectUri: string;
}

/** 303 to /auth for `flow`'s client; `carry` (where to go back) comes back from {@link finishSignIn}. */
export function startSignIn(ctx: Context, flow: FirstPartySignIn, carry: Record<string, string>, extra: Record<string, string> = {}): void {
  const state = randomBytes(16).toString('base64url');
  const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
  ctx.cookies.set(flow.cookie, Buffer.from(JSON.stringify({ ...carry, state })).toString('base64url'), { ...flow.cookieOptions(ctx), maxAge: stateTtl });
  const params = new URLSearchParams({
    client_id: flow.clientId, response_type: 'code', scope: 'openid', redirect_uri: flow.redirectUri,
    code_challenge: challenge, code_challenge_method: 'S256', state, ...extra,
  });
  seeOther(ctx, `${flow.root}/auth?${params}`);
}

/**
 * At the callback: clears the state cookie and returns what {@link startSignIn} carried, or undefined when the
 * state does not match this browser's (expired, another tab or browser, or a forged callback).
 */
export function finishSignIn(ctx: Context, flow: FirstPartySignIn): Record<string, unknown> | undefined {
  const raw = ctx.cookies.get(flow.cookie, { signed: true });
  ctx.cookies.set(flow.cookie, null, flow.cookieOptions(ctx));
  let saved: Record<string, unknown> = {};
  try {
    saved = raw ? JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) : {};
  } catch (error) {
    ctx.state.log?.warn({ err: error, cookie: flow.cookie }, 'unreadable sign-in state cookie');
  }
  return typeof saved.state === 'string' && saved.state === ctx.query.state ? saved : undefined;
}
