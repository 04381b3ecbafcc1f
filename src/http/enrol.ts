// The pages of the one enrolment flow, for its four uses: /setup (first boot), /invite, /reset and /add-passkey
// (a passkey on another device), each ?token=<link or short code>. A GET only shows; the first browser that submits
// claims the link, and any other gets the "in use on another device" page. /join takes a typed short code.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { maxAvatarBytes } from '../auth/avatar.js';
import { deviceName } from '../auth/device-name.js';
import {
  chooseEnrolMethod, claimEnrolLink, claimState, codesToShow, finishEnrol, isShortCode, openEnrolLink, openTotpOffer, personOf, purposeOfCode, purposes,
  saveEnrolCredential, saveEnrolProfile, sealTotpOffer, type EnrolLink, type EnrolPurpose,
} from '../auth/enrol.js';
import { present } from '../auth/household.js';
import { beginRegistration, verifyRegistration, type WebauthnSettings } from '../auth/passkey.js';
import { checkPasswordRules, hashPassword, minPasswordLength } from '../auth/password.js';
import { maxNameLength } from '../auth/profile.js';
import type { SecretBox } from '../auth/secret-key.js';
import type { NetworkClassifier } from '../auth/network.js';
import { beginAttempt, finishAttempt, throttleKeys } from '../auth/throttle.js';
import { matchNewTotpCode, newTotpSecret, totpQrSvg, totpUri } from '../auth/totp.js';
import { AppError, badRequest } from '../errors.js';
import type { Db } from '../store/db.js';
import { browserIdOf } from './browser-cookie.js';
import { lastUserCookie } from './interaction.js';
import { field, form, html, json, noStore, orShow, parseBody, passthroughObject, readPicture, seeOther } from './kit.js';
import type { Render } from './views.js';

export interface EnrolDeps {
  db: Db;
  box: SecretBox;
  render: Render;
  webauthn: WebauthnSettings;
  base: string;
  issuer: string;
  /** The client's address as every door sees it (trusted proxies' X-Forwarded-For, IPv4-mapped addresses unwrapped). */
  classifier: NetworkClassifier;
}

/** Where each use lives and what its pages say. */
const uses = {
  setup: {
    path: '/setup', title: 'Set up Accouch', welcome: 'Welcome to Accouch', passwordTitle: 'Password and authenticator app', totpRequired: true,
    lead: "Create the owner's account. You will use it to sign in to every app in your home cloud.",
    gone: ['No setup here', 'This setup link is not valid: it has expired, was used already, a newer one was made, or Accouch is set up. Ask for a new one with `npx accouch setup-link`.'],
    ask: 'Print a new setup link with `npx accouch setup-link` and open it on this device.',
  },
  invite: {
    path: '/invite', title: 'Join Accouch', welcome: 'Join Accouch', passwordTitle: 'Choose your password', totpRequired: false,
    lead: "You are invited to the household's login. Choose how you appear and how you sign in: you will use it for every app at home.",
    gone: ['Link not valid', 'This invitation link is not valid: it has expired or was used already. Ask whoever invited you for a new one.'],
    ask: 'Ask whoever invited you for a new invitation.',
  },
  reset: {
    path: '/reset', title: 'Reset your sign-in', welcome: 'Reset your sign-in', passwordTitle: 'Choose your password', totpRequired: false, lead: '',
    gone: ['Link not valid', 'This reset link is not valid: it has expired, was used already, or a newer one was made. Ask an admin for a new one.'],
    ask: 'Ask an admin for a new reset link.',
  },
  device: {
    path: '/add-passkey', title: 'Add a passkey', welcome: 'Add a passkey', passwordTitle: '', totpRequired: false, lead: '',
    gone: ['Link not valid', 'This link is not valid: it has expired (it lasts ten minutes), was used already, or a newer one was made. Make a new one on your account page.'],
    ask: 'Make a new link on your account page, on the device where you are signed in.',
  },
} as const satisfies Record<EnrolPurpose, unknown>;

// The bodies the enrolment pages post, checked at the edge (auth/enrol.ts and auth/profile.ts check the values).
/** Every POST may carry the link's token in the form (the pages put it in the query string too). */
const tokenBody = z.object({ token: field });
const profileBody = z.object({ name: field, username: field, email: field, method: field });
const methodBody = z.object({ method: field });
const passkeyBody = z.object({ response: passthroughObject, name: field });
const passwordBody = z.object({ password: field, confirm: field, code: field, offer: field });
const codeBody = z.object({ code: field });

export const enrolPath = (purpose: EnrolPurpose) => uses[purpose].path;

export function enrolRoutes({ db, box, render, webauthn, base, issuer, classifier }: EnrolDeps): Router {
  const router = new Router();
  const profileForm = async (ctx: Context, next: Next) => {
    if (!ctx.is('multipart')) return form(ctx, next);
    await readPicture(ctx, 'avatar', { maxBytes: maxAvatarBytes, fields: 10, unreadable: 'The form could not be read. Try again.' });
    await next();
  };
  const root = issuer.replace(/\/$/, '');
  const tokenOf = (ctx: Context) => String(ctx.query.token ?? parseBody(ctx, tokenBody).token ?? '');
  const here = (purpose: EnrolPurpose, token: string, extra = '') => `${base}${uses[purpose].path}?token=${encodeURIComponent(token)}${extra}`;
  function gone(ctx: Context, purpose: EnrolPurpose) {
    const [title, message] = uses[purpose].gone;
    if (ctx.accepts('html', 'json') === 'json') throw badRequest(message);
    html(ctx, render('message', { title, message }), 404);
  }

  function inUse(ctx: Context, purpose: EnrolPurpose) {
    const message = 'This link is being used on another device: whoever opened it first and pressed Continue there holds it. '
      + `Finish on that device. If that was not you, or you cannot get back to it: ${uses[purpose].ask}`;
    if (ctx.accepts('html', 'json') === 'json') throw new AppError('conflict', message);
    html(ctx, render('message', { title: 'This link is in use on another device', message }), 409);
  }

  /**
   * The link a token names. A short code is guessable in a way a link is not: wrong ones count against the
   * client's address, as failed sign-ins do (counted before it is checked, so a burst of parallel guesses cannot all
   * slip through), and a throttled address gets a 429 page.
   */
  async function guess<T>(ctx: Context, check: () => Promise<T | undefined>): Promise<T | 'throttled' | undefined> {
    const started = await beginAttempt(db, throttleKeys('', classifier.ofRequest(ctx.req).ip).slice(1));
    if (!started.allowed) return 'throttled';
    const found = await check();
    await finishAttempt(db, started.attempt, found !== undefined);
    return found;
  }
  async function find(ctx: Context, purpose: EnrolPurpose, token: string): Promise<EnrolLink | 'throttled' | undefined> {
    const open = async () => (await openEnrolLink(db, box, purpose, token)) ?? undefined;
    return isShortCode(token) ? guess(ctx, open) : open();
  }

  function tooMany(ctx: Context) {
    const message = 'Too many wrong codes from this network. Wait a few minutes, or open the link (or scan the QR code) instead.';
    if (ctx.accepts('html', 'json') === 'json') throw badRequest(message);
    html(ctx, render('message', { title: 'Too many tries', message }), 429);
  }

  /** The link for a GET: any browser may look, nobody changes anything. */
  async function look(ctx: Context, purpose: EnrolPurpose): Promise<{ link: EnrolLink; token: string } | undefined> {
    const token = tokenOf(ctx);
    const link = await find(ctx, purpose, token);
    if (link === 'throttled') return void tooMany(ctx);
    if (!link) return void gone(ctx, purpose);
    if (claimState(box, link, browserIdOf(ctx)) === 'other') return void inUse(ctx, purpose);
    return { link, token };
  }

  /** The link for a POST: claimed by this browser if free, refused if another holds it. */
  async function hold(ctx: Context, purpose: EnrolPurpose): Promise<{ link: EnrolLink; token: string } | undefined> {
    const token = tokenOf(ctx);
    const link = await find(ctx, purpose, token);
    if (link === 'throttled') return void tooMany(ctx);
    if (!link) return void gone(ctx, purpose);
    if ((await claimEnrolLink(db, box, link, browserIdOf(ctx))) !== 'mine') return void inUse(ctx, purpose);
    return { link, token };
  }

  /** The page for where the link's holder is: profile or method, credential, recovery codes. */
  async function show(ctx: Context, purpose: EnrolPurpose, link: EnrolLink, token: string, extra: Record<string, unknown> = {}, status = 200) {
    const words = uses[purpose];
    const rules = purposes[purpose];
    const common = { title: words.title, purpose, path: words.path, token, maxName: maxNameLength, ...extra };
    const person = await personOf(db, link);
    const restart = !link.state.credentialDone && Boolean(ctx.query.restart);
    if (rules.creates && (!person || restart)) {
      return html(ctx, render('enrol-profile', {
        ...common, heading: words.welcome, lead: words.lead, name: person?.name, username: person?.username, email: person?.email, method: link.state.method,
      }), status);
    }
    if (!person) return gone(ctx, purpose);
    const shown = { ...present(person), ...(person.pendingPicture ? { avatarPath: `data:${person.pendingPicture.type};base64,${person.pendingPicture.data}`, inline: true } : {}) };
    if (!link.state.credentialDone && rules.methods.length > 1 && !rules.creates && (!link.state.method || restart)) {
      return html(ctx, render('enrol-method', { ...common, person: shown, method: link.state.method }), status);
    }
    if (!link.state.credentialDone) {
      if ((link.state.method ?? rules.methods[0]) === 'passkey') {
        return html(ctx, render('enrol-passkey', { ...common, person: shown, suggested: deviceName(undefined, ctx.get('user-agent')), back: rules.methods.length > 1 }), status);
      }
      const secret = await newTotpSecret();
      const qr = Buffer.from(await totpQrSvg(await totpUri({ issuer: webauthn.rpName, account: person.username, secret }))).toString('base64');
      return html(ctx, render('enrol-password', {
        ...common, heading: words.passwordTitle, totpRequired: words.totpRequired, person: shown, secret,
        offer: sealTotpOffer(box, link, secret), qr, minLength: minPasswordLength,
      }), status);
    }
    // The credential is saved: only the browser that saved it sees the codes (shown until it finishes).
    if (claimState(box, link, browserIdOf(ctx)) !== 'mine') return inUse(ctx, purpose);
    return html(ctx, render('enrol-recovery', { ...common, person: shown, codes: codesToShow(box, link) }), status);
  }

  /** Runs a submit on the link this browser holds; a readable refusal shows the step again with the message (a taken username: the profile). */
  const submit = (purpose: EnrolPurpose, step: (ctx: Context, found: { link: EnrolLink; token: string }) => Promise<void>) => async (ctx: Context) => {
    const found = await hold(ctx, purpose);
    if (!found) return;
    await orShow((ctx) => step(ctx, found), async (ctx, error) => {
      const fresh = (await openEnrolLink(db, box, purpose, found.token)) ?? found.link;
      if (error.code === 'conflict' && /username|email/.test(error.message)) ctx.query = { ...ctx.query, restart: '1' };
      await show(ctx, purpose, fresh, found.token, { error: error.message }, error.status);
    }, { rethrow: ['not_found'] })(ctx);
  };

  for (const purpose of Object.keys(uses) as EnrolPurpose[]) {
    const path = uses[purpose].path;
    const binding = (link: EnrolLink) => `${purpose}:${link.id}`;

    router.get(path, async (ctx) => {
      const found = await look(ctx, purpose);
      if (found) await show(ctx, purpose, found.link, found.token);
    });

    if (purposes[purpose].creates) {
      router.post(`${path}/profile`, profileForm, submit(purpose, async (ctx, { link, token }) => {
        const file = (ctx as unknown as { file?: { buffer: Buffer } }).file;
        await saveEnrolProfile(db, link, { ...parseBody(ctx, profileBody), picture: file?.buffer });
        seeOther(ctx, here(purpose, token));
      }));
    } else if (purposes[purpose].methods.length > 1) {
      router.post(`${path}/method`, form, submit(purpose, async (ctx, { link, token }) => {
        await chooseEnrolMethod(db, link, parseBody(ctx, methodBody).method);
        seeOther(ctx, here(purpose, token));
      }));
    }

    router.post(`${path}/webauthn/options`, json, async (ctx) => {
      const found = await hold(ctx, purpose);
      if (!found) return;
      const person = await personOf(db, found.link);
      if (!person || found.link.state.credentialDone) throw badRequest('Start again from the link.');
      noStore(ctx);
      ctx.body = await beginRegistration(db, webauthn, person, 'passkey', binding(found.link));
    });

    router.post(`${path}/webauthn`, json, async (ctx) => {
      const found = await hold(ctx, purpose);
      if (!found) return;
      const person = await personOf(db, found.link);
      if (!person || found.link.state.credentialDone) throw badRequest('Start again from the link.');
      const sent = parseBody(ctx, passkeyBody);
      const credential = await verifyRegistration(db, webauthn, {
        userId: person.id, binding: binding(found.link), kind: 'passkey', name: sent.name ?? '', response: sent.response as never,
      });
      // Named after the device it was made on, unless the person typed a name.
      if (!sent.name?.trim()) credential.name = deviceName(credential.aaguid, ctx.get('user-agent'));
      await saveEnrolCredential(db, box, found.link, { kind: 'passkey', credential });
      noStore(ctx);
      ctx.body = { redirect: here(purpose, found.token) };
    });

    if (purposes[purpose].methods.length > 1) {
      router.post(`${path}/password`, form, submit(purpose, async (ctx, { link, token }) => {
        const sent = parseBody(ctx, passwordBody);
        const password = sent.password ?? '';
        if (link.state.credentialDone) throw badRequest('Your new sign-in is already saved: save your recovery codes to finish.');
        try {
          checkPasswordRules(password);
        } catch (error) {
          if (error instanceof AppError && error.message.startsWith('password ')) throw badRequest(`The ${error.message}.`);
          throw error;
        }
        if (password !== (sent.confirm ?? '')) throw badRequest('The two passwords are not the same. Type them again.');
        const code = (sent.code ?? '').trim();
        let totp: { secret: string; step: number } | undefined;
        if (code || uses[purpose].totpRequired) {
          const secret = openTotpOffer(box, link, sent.offer);
          const step = secret ? await matchNewTotpCode(secret, code) : undefined;
          if (!secret || step === undefined) {
            throw badRequest(`That code did not match. Scan the new QR code and enter the code it shows${uses[purpose].totpRequired ? '' : ', or leave the code empty'}.`);
          }
          totp = { secret, step };
        }
        await saveEnrolCredential(db, box, link, { kind: 'password', passwordHash: await hashPassword(password), totp });
        seeOther(ctx, here(purpose, token));
      }));
    }

    router.post(`${path}/finish`, form, async (ctx) => {
      const found = await hold(ctx, purpose);
      if (!found) return;
      const userId = await finishEnrol(db, found.link);
      if (!userId) throw badRequest('Create your passkey or password first.');
      // The lock screen greets them next time, on this device.
      ctx.cookies.set(lastUserCookie, userId, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 400 * 86400_000, overwrite: true });
      seeOther(ctx, purpose === 'setup' ? `${base}/setup/done` : `${base}/account`);
    });
  }

  // After setup: where to go next. Shows nothing about anyone; the links ask for a sign-in.
  router.get('/setup/done', (ctx) => html(ctx, render('setup-done', { title: 'Accouch is ready', issuer: root })));

  router.get('/join', (ctx) => html(ctx, render('join', { title: 'Enter your code' })));
  router.post('/join', form, async (ctx) => {
    const typed = parseBody(ctx, codeBody).code ?? '';
    const found = await guess(ctx, async () => (await purposeOfCode(db, box, typed)) ?? undefined);
    if (found === 'throttled') return tooMany(ctx);
    if (!found) {
      return html(ctx, render('join', { title: 'Enter your code', code: typed.slice(0, 20), error: 'That code is not valid: check it, or ask for a new one.' }), 400);
    }
    seeOther(ctx, here(found.purpose, found.code));
  });

  return router;
}
