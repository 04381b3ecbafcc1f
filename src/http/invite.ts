// Invitation and reset links from the owner console: /invite?token=… (choose a profile, then a passkey or a
// password with an optional authenticator app) and /reset?token=… (a new passkey or password replacing every old
// factor). Both end with recovery codes, then the lock screen. Without a valid link there is no page.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { present, usernamePattern } from '../auth/household.js';
import {
  chooseMethod, enrolUser, findEnrolLink, finishEnrol, offerEnrolTotp, passkeySaved, saveInvitee, savePassword, type EnrolFlow, type EnrolLink,
} from '../auth/invite.js';
import { beginRegistration, finishRegistration, type WebauthnSettings } from '../auth/passkey.js';
import { checkPasswordRules, minPasswordLength } from '../auth/password.js';
import { generateRecoveryCodes } from '../auth/recovery.js';
import type { SecretBox } from '../auth/secret-key.js';
import { newTotpSecret, totpQrSvg, totpUri } from '../auth/totp.js';
import { AppError, badRequest } from '../errors.js';
import type { Db } from '../store/db.js';
import { html, lastUserCookie } from './interaction.js';
import type { Render } from './views.js';

export interface InviteDeps {
  db: Db;
  box: SecretBox;
  render: Render;
  webauthn: WebauthnSettings;
  base: string;
}


const words = {
  invite: { title: 'Join Accouch', gone: 'This invitation link is not valid: it has expired or was used already. Ask whoever invited you for a new one.' },
  reset: { title: 'Reset your sign-in', gone: 'This reset link is not valid: it has expired, was used already, or a newer one was made. Ask an admin for a new one.' },
} as const;

export function inviteRoutes({ db, box, render, webauthn, base }: InviteDeps): Router {
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });

  const here = (flow: EnrolFlow, token: string) => `${base}/${flow}?token=${encodeURIComponent(token)}`;

  /** The link named by ?token= (or the form's token); renders the "not valid" page when there is none. */
  async function linkOf(ctx: Context, flow: EnrolFlow): Promise<{ link: EnrolLink; token: string } | undefined> {
    const token = String(ctx.query.token ?? (ctx.request.body as Record<string, unknown> | undefined)?.token ?? '');
    const link = await findEnrolLink(db, box, flow, token);
    if (link) return { link, token };
    if (ctx.accepts('html', 'json') === 'json') throw badRequest(words[flow].gone);
    html(ctx, render('message', { title: 'Link not valid', message: words[flow].gone }), 404);
    return undefined;
  }

  /** The page for where the link's holder is: profile or method, credential, recovery codes. */
  async function show(ctx: Context, flow: EnrolFlow, link: EnrolLink, token: string, extra: Record<string, unknown> = {}, status = 200) {
    const common = { title: words[flow].title, flow, token, ...extra };
    const user = await enrolUser(db, link);
    const restart = !link.state.credentialDone && ctx.query.restart;
    if (flow === 'invite' && (!user || restart)) {
      return html(ctx, render('invite-profile', { name: user?.name, username: user?.username, email: user?.email, method: link.state.method, ...common }), status);
    }
    if (!user) return html(ctx, render('message', { title: 'Link not valid', message: words[flow].gone }), 404);
    const person = present(user);
    if (flow === 'reset' && ((!link.state.method && !link.state.credentialDone) || restart)) {
      return html(ctx, render('invite-method', { ...common, person, method: link.state.method }), status);
    }
    if (!link.state.credentialDone) {
      if (link.state.method === 'passkey') return html(ctx, render('invite-passkey', { ...common, person }), status);
      const secret = newTotpSecret();
      await offerEnrolTotp(db, box, link, secret);
      const qr = Buffer.from(await totpQrSvg(totpUri({ issuer: webauthn.rpName, account: user.username, secret }))).toString('base64');
      return html(ctx, render('invite-password', { ...common, person, secret: secret.replace(/(.{4})/g, '$1 ').trim(), qr, minLength: minPasswordLength }), status);
    }
    const codes = await generateRecoveryCodes(db, box, user.id);
    return html(ctx, render('invite-recovery', { ...common, person, codes }), status);
  }

  for (const flow of ['invite', 'reset'] as const) {
    const binding = (link: EnrolLink) => `${flow}:${link.id}`;

    router.get(`/${flow}`, async (ctx) => {
      const found = await linkOf(ctx, flow);
      if (found) await show(ctx, flow, found.link, found.token);
    });

    router.post(`/${flow}/webauthn/options`, json, async (ctx) => {
      const found = await linkOf(ctx, flow);
      if (!found) return;
      const user = await enrolUser(db, found.link);
      if (!user || found.link.state.credentialDone) throw badRequest('Start again from the link.');
      ctx.set('cache-control', 'no-store');
      ctx.body = await beginRegistration(db, webauthn, user, 'passkey', binding(found.link));
    });

    router.post(`/${flow}/webauthn`, json, async (ctx) => {
      const found = await linkOf(ctx, flow);
      if (!found) return;
      const user = await enrolUser(db, found.link);
      if (!user || found.link.state.credentialDone) throw badRequest('Start again from the link.');
      const body = ctx.request.body as { response?: unknown; name?: string };
      const credential = await finishRegistration(db, webauthn, {
        userId: user.id, binding: binding(found.link), kind: 'passkey', name: String(body.name ?? '') || 'Passkey', response: body.response as never,
      });
      await passkeySaved(db, found.link, flow, credential.id);
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: here(flow, found.token) };
    });

    router.post(`/${flow}/password`, form, async (ctx) => {
      const found = await linkOf(ctx, flow);
      if (!found) return;
      const body = ctx.request.body as Record<string, string>;
      const password = String(body.password ?? '');
      try {
        if (found.link.state.credentialDone) throw badRequest('Your new sign-in is already saved: save your recovery codes to finish.');
        checkPasswordRules(password);
        if (password !== String(body.confirm ?? '')) throw badRequest('The two passwords are not the same. Type them again.');
        if (!(await savePassword(db, box, found.link, flow, password, String(body.code ?? '')))) {
          throw badRequest('That code did not match. Scan the new QR code and enter the code it shows, or leave the code empty.');
        }
      } catch (error) {
        if (!(error instanceof AppError) || !error.expose) throw error;
        const message = error.message.startsWith('password ') ? `The ${error.message}.` : error.message;
        return show(ctx, flow, (await findEnrolLink(db, box, flow, found.token)) ?? found.link, found.token, { error: message }, 400);
      }
      ctx.status = 303;
      ctx.redirect(here(flow, found.token));
    });

    router.post(`/${flow}/finish`, form, async (ctx) => {
      const found = await linkOf(ctx, flow);
      if (!found) return;
      const userId = await finishEnrol(db, found.link, flow);
      if (!userId) throw badRequest('Create your passkey or password first.');
      // The lock screen greets them next time, on this device.
      ctx.cookies.set(lastUserCookie, userId, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 400 * 86400_000, overwrite: true });
      ctx.status = 303;
      ctx.redirect(`${base}/account`);
    });
  }

  router.post('/invite/profile', form, async (ctx) => {
    const found = await linkOf(ctx, 'invite');
    if (!found) return;
    const body = ctx.request.body as Record<string, string>;
    const profile = {
      username: String(body.username ?? '').trim(),
      name: String(body.name ?? '').trim().replace(/\s+/g, ' ').slice(0, 80),
      email: String(body.email ?? '').trim(),
      method: body.method === 'password' ? 'password' as const : 'passkey' as const,
    };
    const problems = [
      usernamePattern.test(profile.username) ? '' : 'Choose a username of letters, digits, ".", "_" or "-".',
      profile.name ? '' : 'Enter the name to show on the sign-in screen.',
      !profile.email || /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(profile.email) ? '' : 'That email address does not look right.',
    ].filter(Boolean);
    const again = (error: string) => html(ctx, render('invite-profile', { title: words.invite.title, flow: 'invite', token: found.token, ...profile, error }), 400);
    if (problems.length) return again(problems.join(' '));
    try {
      await saveInvitee(db, found.link, profile);
    } catch (error) {
      if (!(error instanceof AppError) || !error.expose) throw error;
      return again(error.message);
    }
    ctx.status = 303;
    ctx.redirect(here('invite', found.token));
  });

  router.post('/reset/method', form, async (ctx) => {
    const found = await linkOf(ctx, 'reset');
    if (!found) return;
    await chooseMethod(db, found.link, (ctx.request.body as Record<string, string>).method === 'password' ? 'password' : 'passkey');
    ctx.status = 303;
    ctx.redirect(here('reset', found.token));
  });

  return router;
}
