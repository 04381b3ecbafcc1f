// Sign-in methods on the account page: passkeys and security keys (add, rename, remove), the authenticator
// app, the password and recovery codes. Every change but a rename needs a sign-in at most five minutes old,
// and the last way in (a password or a passkey) cannot be removed.
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import {
  canRemoveCredential, changeOwnPassword, enrolOwnTotp, ownCredential, regenerateOwnRecoveryCodes, removeOwnCredential, removeOwnPassword,
  removeOwnTotp, renameOwnCredential, securityOverview,
} from '../../auth/account.js';
import { beginRegistration, finishRegistration, type CredentialKind } from '../../auth/passkey.js';
import { minPasswordLength } from '../../auth/password.js';
import { newTotpSecret, totpQrSvg, totpUri } from '../../auth/totp.js';
import { AppError } from '../../errors.js';
import { field, form, html, json, noStore, orShow, parseBody, passthroughObject, when } from '../kit.js';
import type { AccountKit } from './kit.js';

const totpCookie = 'accouch.totp_pending';
const totpTtl = 15 * 60;

const kindOf = (value: unknown): CredentialKind => (value === 'security_key' ? 'security_key' : 'passkey');
const kindWords = { passkey: { one: 'passkey', title: 'Add a passkey' }, security_key: { one: 'security key', title: 'Add a security key' } };

type Extra = { error?: string; status?: number };

// The bodies these pages post, checked at the edge; auth/ checks the values.
const registrationBody = z.object({ response: passthroughObject, name: field });
const nameForm = z.object({ name: field });
const codeForm = z.object({ code: field });
const passwordForm = z.object({ password: field, confirm: field, endOthers: field });

/** A JSON answer webauthn.js can show: `{ error }` with a readable message. */
const jsonErrors: Middleware = async (ctx, next) => {
  noStore(ctx);
  try {
    await next();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    ctx.status = error.status;
    ctx.body = { error: error.message };
  }
};

export function factorRoutes(router: Router, kit: AccountKit): void {
  const { deps, auth, actor, account, go, showAccount, fresh } = kit;
  const { db, render, box, webauthn, base } = deps;
  const { requireAccount, sameOrigin } = auth;

  // ---- passkeys and security keys ------------------------------------------------------------------------
  const kindParam = (ctx: Context) => kindOf(ctx.query.kind);
  // One ceremony per session and kind: a challenge begun for a security key cannot finish as a passkey.
  const binding = (ctx: Context, kind: CredentialKind) => `account:${account(ctx).session.sessionId}:${kind}`;

  const addKeyPage = (ctx: Context) => `/webauthn/new?kind=${kindParam(ctx)}`;
  const showAddKey = (ctx: Context) => {
    const kind = kindParam(ctx);
    html(ctx, render('account-webauthn', { title: kindWords[kind].title, kind, words: kindWords[kind] }));
  };
  const registrationOptions = async (ctx: Context) => {
    const { user } = account(ctx);
    const kind = kindParam(ctx);
    ctx.body = await beginRegistration(db, webauthn, { id: user.id, username: user.username, name: user.name }, kind, binding(ctx, kind));
  };
  const register = async (ctx: Context) => {
    const kind = kindParam(ctx);
    const { response, name } = parseBody(ctx, registrationBody);
    await finishRegistration(db, webauthn, {
      userId: account(ctx).user.id, binding: binding(ctx, kind), kind, name: name ?? '', response: response as never,
    });
    ctx.body = { redirect: `${base}/account?done=${kind === 'passkey' ? 'passkey-added' : 'security-key-added'}` };
  };

  async function showCredential(ctx: Context, extra: Extra = {}) {
    const { user } = account(ctx);
    const credential = await ownCredential(db, user.id, ctx.params.id!);
    const { credentials, links } = await securityOverview(db, user.id);
    html(ctx, render('account-credential', {
      title: credential.name,
      credential: { id: credential.id, name: credential.name, kind: credential.kind, created: when(credential.createdAt), lastUsed: when(credential.lastUsedAt) },
      words: kindWords[credential.kind],
      removable: canRemoveCredential(user, credentials, credential.id, links.length),
      error: extra.error,
    }), extra.status);
  }
  const credentialPage = (ctx: Context) => `/credentials/${encodeURIComponent(ctx.params.id!)}`;
  /** A refusal (the last way in, a bad name) re-renders the credential page with its message; a missing key is a 404. */
  const onCredential = (change: (ctx: Context) => Promise<void>) =>
    orShow(change, (ctx, error) => showCredential(ctx, { error: error.message, status: error.status }), { rethrow: ['not_found'] });
  const renameKey = onCredential(async (ctx) => {
    await renameOwnCredential(db, actor(ctx), ctx.params.id!, parseBody(ctx, nameForm).name);
    go(ctx, '', 'renamed');
  });
  const removeKey = onCredential(async (ctx) => {
    const removed = await removeOwnCredential(db, actor(ctx), ctx.params.id!);
    go(ctx, '', removed.kind === 'passkey' ? 'passkey-removed' : 'security-key-removed');
  });

  // ---- authenticator app (TOTP) --------------------------------------------------------------------------
  const totpCookieOptions = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, path: `${base}/account`, secure: ctx.secure, overwrite: true });

  /** The secret being enrolled: sealed in a short-lived cookie, so it is never in a URL or a form field. */
  function pendingSecret(ctx: Context): string | undefined {
    const sealed = ctx.cookies.get(totpCookie, { signed: true });
    if (!sealed) return undefined;
    try {
      const { u, s, e } = JSON.parse(box.decrypt(sealed)) as { u: string; s: string; e: number };
      return u === account(ctx).user.id && e > Date.now() / 1000 ? s : undefined;
    } catch (error) {
      ctx.state.log?.warn({ err: error }, 'unreadable TOTP enrolment cookie');
      return undefined;
    }
  }

  async function showTotp(ctx: Context, secret: string, extra: Extra = {}) {
    const { user } = account(ctx);
    const svg = await totpQrSvg(await totpUri({ issuer: webauthn.rpName, account: user.username, secret }));
    html(ctx, render('account-totp', {
      title: 'Set up an authenticator app',
      qr: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
      secret: secret.replace(/(.{4})/g, '$1 ').trim(),
      replacing: (await securityOverview(db, user.id)).totp,
      error: extra.error,
    }), extra.status);
  }
  /** Keeps the secret across reloads (the user may have scanned it already); a new one after 15 minutes. */
  const startTotp = async (ctx: Context) => {
    let secret = pendingSecret(ctx);
    if (!secret) {
      secret = await newTotpSecret();
      const sealed = box.encrypt(JSON.stringify({ u: account(ctx).user.id, s: secret, e: Math.floor(Date.now() / 1000) + totpTtl }));
      ctx.cookies.set(totpCookie, sealed, { ...totpCookieOptions(ctx), maxAge: totpTtl * 1000 });
    }
    await showTotp(ctx, secret);
  };
  const confirmTotp = async (ctx: Context) => {
    const secret = pendingSecret(ctx);
    if (!secret) return go(ctx, '/totp');
    const code = (parseBody(ctx, codeForm).code ?? '').slice(0, 16);
    if (!(await enrolOwnTotp(db, box, actor(ctx), secret, code))) {
      return showTotp(ctx, secret, { error: 'That code did not work. Check the time on your phone and enter the newest code.', status: 400 });
    }
    ctx.cookies.set(totpCookie, null, totpCookieOptions(ctx));
    go(ctx, '', 'totp-enrolled');
  };
  const removeApp = async (ctx: Context) => {
    await removeOwnTotp(db, actor(ctx));
    go(ctx, '', 'totp-removed');
  };

  // ---- password ------------------------------------------------------------------------------------------
  const showPassword = (ctx: Context, extra: Extra = {}) => {
    const { user } = account(ctx);
    html(ctx, render('account-password', {
      title: user.passwordHash ? 'Change your password' : 'Set a password',
      username: user.username, hasPassword: Boolean(user.passwordHash), minLength: minPasswordLength, error: extra.error,
    }), extra.status);
  };
  const changePassword = async (ctx: Context) => {
    const { password, confirm, endOthers } = parseBody(ctx, passwordForm);
    if (password === undefined || password !== confirm) return showPassword(ctx, { error: 'The two passwords are not the same. Type them again.', status: 400 });
    try {
      await changeOwnPassword(db, actor(ctx), password, { endOtherSessions: endOthers === 'yes' ? account(ctx).session.sessionId : undefined });
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'bad_request') throw error;
      return showPassword(ctx, { error: `The password ${error.message.replace(/^password /, '')}.`, status: 400 });
    }
    go(ctx, '', 'password');
  };
  const removePassword = async (ctx: Context) => {
    try {
      await removeOwnPassword(db, actor(ctx));
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'conflict') throw error;
      return showAccount(ctx, { error: error.message, status: 409 });
    }
    go(ctx, '', 'password-removed');
  };

  // ---- recovery codes ------------------------------------------------------------------------------------
  const showRecovery = async (ctx: Context) => {
    const { recovery } = await securityOverview(db, account(ctx).user.id);
    html(ctx, render('account-recovery', { title: 'Recovery codes', recovery }));
  };
  const regenerate = async (ctx: Context) => {
    const codes = await regenerateOwnRecoveryCodes(db, box, actor(ctx));
    html(ctx, render('account-recovery-codes', { title: 'Your new recovery codes', codes }));
  };

  // Every POST: same origin first, then the session, then freshness (where the page to come back to is named),
  // then the body. JSON endpoints answer errors as { error } for webauthn.js.
  router.get('/account/webauthn/new',                                    requireAccount, fresh(addKeyPage),           showAddKey);
  router.post('/account/webauthn/options',       jsonErrors, sameOrigin, requireAccount, fresh(''),             json, registrationOptions);
  router.post('/account/webauthn',               jsonErrors, sameOrigin, requireAccount, fresh(''),             json, register);
  router.get('/account/credentials/:id',                                 requireAccount,                              (ctx) => showCredential(ctx));
  router.post('/account/credentials/:id/rename',             sameOrigin, requireAccount,                        form, renameKey);
  router.post('/account/credentials/:id/remove',             sameOrigin, requireAccount, fresh(credentialPage), form, removeKey);
  router.get('/account/totp',                                            requireAccount, fresh('/totp'),              startTotp);
  router.post('/account/totp',                               sameOrigin, requireAccount, fresh('/totp'),        form, confirmTotp);
  router.post('/account/totp/remove',                        sameOrigin, requireAccount, fresh(''),             form, removeApp);
  router.get('/account/password',                                        requireAccount, fresh('/password'),          (ctx) => showPassword(ctx));
  router.post('/account/password',                           sameOrigin, requireAccount, fresh('/password'),    form, changePassword);
  router.post('/account/password/remove',                    sameOrigin, requireAccount, fresh(''),             form, removePassword);
  router.get('/account/recovery',                                        requireAccount, fresh('/recovery'),          showRecovery);
  router.post('/account/recovery',                           sameOrigin, requireAccount, fresh('/recovery'),    form, regenerate);
}
