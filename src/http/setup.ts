// First-boot setup pages at /setup?token=…: the owner's profile, a first credential (passkey by default, or a
// password plus TOTP), recovery codes, then the lock screen. Without a valid link there is no setup page.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import multer from '@koa/multer';
import type { Context } from 'koa';
import { maxAvatarBytes } from '../auth/avatar.js';
import { beginRegistration, finishRegistration, type WebauthnSettings } from '../auth/passkey.js';
import { checkPasswordRules } from '../auth/password.js';
import { generateRecoveryCodes } from '../auth/recovery.js';
import type { SecretBox } from '../auth/secret-key.js';
import {
  findSetupLink, finishSetup, markCredentialDone, offerTotp, saveOwner, savePasswordAndTotp, type SetupLink,
} from '../auth/setup.js';
import { newTotpSecret, totpQrSvg, totpUri } from '../auth/totp.js';
import { AppError, badRequest } from '../errors.js';
import type { Db } from '../store/db.js';
import { findUser } from '../auth/login.js';
import { present, usernamePattern } from '../auth/household.js';
import { html, lastUserCookie } from './interaction.js';
import type { Render } from './views.js';

export interface SetupDeps {
  db: Db;
  box: SecretBox;
  render: Render;
  webauthn: WebauthnSettings;
  base: string;
}


export function setupRoutes({ db, box, render, webauthn, base }: SetupDeps): Router {
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: maxAvatarBytes, files: 1, fields: 10 } });
  const uploadAvatar = async (ctx: Context, next: () => Promise<unknown>) => {
    try {
      await upload.single('avatar')(ctx as never, async () => {});
    } catch (error) {
      if ((error as { code?: string }).code === 'LIMIT_FILE_SIZE') throw badRequest('The picture is larger than 1 MB. Choose a smaller one.');
      throw badRequest('The form could not be read. Try again.');
    }
    await next();
  };

  const here = (token: string) => `${base}/setup?token=${encodeURIComponent(token)}`;

  /** The link named by ?token= (or the form's token); renders the "not valid" page when there is none. */
  async function linkOf(ctx: Context, { afterCredential = false } = {}): Promise<{ link: SetupLink; token: string } | undefined> {
    const token = String(ctx.query.token ?? (ctx.request.body as Record<string, unknown> | undefined)?.token ?? '');
    const link = await findSetupLink(db, box, token);
    // Once the owner has a way in, the link only shows the recovery codes and finishes: it can no longer
    // change the owner or add credentials.
    if (link && (!link.state.credentialDone || afterCredential)) return { link, token };
    ctx.set('referrer-policy', 'no-referrer');
    html(ctx, render('message', {
      title: 'No setup here',
      message: 'This setup link is not valid: it has expired, was used already, or Accouch is set up. Ask for a new one with `npx accouch setup-link`.',
    }), 404);
    return undefined;
  }

  async function show(ctx: Context, link: SetupLink, token: string, extra: Record<string, unknown> = {}, status = 200) {
    const common = { title: 'Set up Accouch', token, ...extra };
    const owner = link.state.userId ? await findUser(db, link.state.userId) : undefined;
    if (!owner) return html(ctx, render('setup-profile', { ...common, method: 'passkey' }), status);
    const person = present(owner);
    if (!link.state.credentialDone && ctx.query.restart) {
      return html(ctx, render('setup-profile', { ...common, name: owner.name, username: owner.username, email: owner.email, method: link.state.method }), status);
    }
    if (!link.state.credentialDone) {
      if (link.state.method === 'passkey') return html(ctx, render('setup-passkey', { ...common, person }), status);
      const secret = newTotpSecret();
      await offerTotp(db, box, link, secret);
      const uri = totpUri({ issuer: 'Accouch', account: owner.username, secret });
      const qr = Buffer.from(await totpQrSvg(uri)).toString('base64');
      return html(ctx, render('setup-password', { ...common, person, secret, qr }), status);
    }
    const codes = await generateRecoveryCodes(db, box, owner.id);
    return html(ctx, render('setup-recovery', { ...common, person, codes }), status);
  }

  router.get('/setup', async (ctx) => {
    const found = await linkOf(ctx, { afterCredential: true });
    if (found) await show(ctx, found.link, found.token);
  });

  router.post('/setup/profile', uploadAvatar, async (ctx) => {
    const found = await linkOf(ctx);
    if (!found) return;
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const profile = {
      username: String(body.username ?? '').trim(),
      name: String(body.name ?? '').trim().slice(0, 100),
      email: String(body.email ?? '').trim(),
      method: body.method === 'password' ? 'password' as const : 'passkey' as const,
      avatar: (ctx as unknown as { file?: { buffer: Buffer } }).file?.buffer,
    };
    const problems = [
      usernamePattern.test(profile.username) ? '' : 'Choose a username of letters, digits, ".", "_" or "-".',
      profile.name ? '' : 'Enter the name to show on the sign-in screen.',
      !profile.email || /^[^\s@]+@[^\s@]+$/.test(profile.email) ? '' : 'That email address does not look right.',
    ].filter(Boolean);
    if (problems.length) return html(ctx, render('setup-profile', { title: 'Set up Accouch', token: found.token, ...profile, avatar: undefined, error: problems.join(' ') }), 400);
    try {
      await saveOwner(db, found.link, profile);
    } catch (error) {
      if (!(error instanceof AppError) || !error.expose) throw error;
      return html(ctx, render('setup-profile', { title: 'Set up Accouch', token: found.token, ...profile, avatar: undefined, error: error.message }), 400);
    }
    ctx.status = 303;
    ctx.redirect(here(found.token));
  });

  router.post('/setup/webauthn/options', json, async (ctx) => {
    const found = await linkOf(ctx);
    if (!found) return;
    const owner = found.link.state.userId ? await findUser(db, found.link.state.userId) : undefined;
    if (!owner) throw badRequest('Fill in your profile first.');
    ctx.set('cache-control', 'no-store');
    ctx.body = await beginRegistration(db, webauthn, owner, 'passkey', `setup:${found.link.id}`);
  });

  router.post('/setup/webauthn', json, async (ctx) => {
    const found = await linkOf(ctx);
    if (!found || !found.link.state.userId) return;
    const body = ctx.request.body as { response?: unknown; name?: string };
    await finishRegistration(db, webauthn, {
      userId: found.link.state.userId, binding: `setup:${found.link.id}`, kind: 'passkey', name: String(body.name ?? '') || 'Passkey', response: body.response as never,
    });
    await markCredentialDone(db, found.link);
    ctx.set('cache-control', 'no-store');
    ctx.body = { redirect: here(found.token) };
  });

  router.post('/setup/password', form, async (ctx) => {
    const found = await linkOf(ctx);
    if (!found) return;
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const password = String(body.password ?? '');
    try {
      checkPasswordRules(password);
      if (password !== String(body.confirm ?? '')) throw badRequest('The two passwords are not the same.');
      if (!(await savePasswordAndTotp(db, box, found.link, password, String(body.code ?? '')))) {
        throw badRequest('That code did not match. Scan the new QR code and enter the code it shows.');
      }
    } catch (error) {
      if (!(error instanceof AppError) || !error.expose) throw error;
      return show(ctx, found.link, found.token, { error: error.message }, 400);
    }
    ctx.status = 303;
    ctx.redirect(here(found.token));
  });

  router.post('/setup/finish', form, async (ctx) => {
    const found = await linkOf(ctx, { afterCredential: true });
    if (!found) return;
    const ownerId = await finishSetup(db, found.link);
    if (!ownerId) throw badRequest('Finish creating your passkey or password first.');
    // The lock screen greets the owner next time, as on their own laptop.
    ctx.cookies.set(lastUserCookie, ownerId, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 400 * 86400_000, overwrite: true });
    ctx.status = 303;
    ctx.redirect(`${base}/account`);
  });

  return router;
}
