// A stand-in for GitHub (github.com is out of reach here), following GitHub's documented OAuth web flow and REST
// API as GitHub Enterprise Server serves them: /login/oauth/authorize (an "Authorize" page; denial redirects with
// error=access_denied), /login/oauth/access_token (JSON with Accept: application/json; errors as 200 + `error`,
// as GitHub does; PKCE S256 checked), and /api/v3/user, /user/emails, /user/orgs, /user/teams with a Bearer token.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort } from './server.js';

export interface GithubUser {
  id: number;
  login: string;
  name: string | null;
  /** /user/emails, in GitHub's shape. */
  emails: Array<{ email: string; primary: boolean; verified: boolean }>;
  orgs?: string[];
  /** "org/team-slug" */
  teams?: string[];
  /** Served at /avatars/<login>.png */
  avatar?: Buffer;
}

export interface FakeGithub {
  baseUrl: string;
  /** Scopes the app asked for on the last authorization. */
  lastScopes(): string[];
  /** Codes expire at once (GitHub's own limit is 10 minutes): the token endpoint answers bad_verification_code. */
  expireCodes(expire: boolean): void;
  close(): Promise<void>;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

export async function startFakeGithub(options: { clientId: string; clientSecret: string; callbackUrl: string; users: GithubUser[] }): Promise<FakeGithub> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const codes = new Map<string, { login: string; redirectUri: string; challenge: string | null; scope: string }>();
  const tokens = new Map<string, { login: string; scope: string }>();
  let scopes: string[] = [];
  let expired = false;

  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  const userOf = (login: string) => options.users.find((u) => u.login === login)!;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, baseUrl);
    const path = url.pathname;

    if (path === '/login/oauth/authorize' && req.method === 'GET') {
      const q = url.searchParams;
      if (q.get('client_id') !== options.clientId) return res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404: unknown application</h1>');
      // GitHub: the redirect_uri must be the registered callback URL (or under it).
      if (q.get('redirect_uri') && !q.get('redirect_uri')!.startsWith(options.callbackUrl)) {
        return res.writeHead(400, { 'content-type': 'text/html' }).end('<h1>The redirect_uri is not associated with this application.</h1>');
      }
      scopes = (q.get('scope') ?? '').split(/[ ,]+/).filter(Boolean);
      const hidden = ['redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope']
        .map((k) => `<input type="hidden" name="${k}" value="${escape(q.get(k) ?? '')}">`).join('');
      const people = options.users.map((u) => `<option value="${escape(u.login)}">${escape(u.login)}</option>`).join('');
      return res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>Authorize application</title>
<h1>Authorize Accouch</h1><form method="post" action="/login/oauth/authorize/decide">${hidden}
<label for="gh-login">Signed in to GitHub as</label><select id="gh-login" name="login">${people}</select>
<button id="gh-authorize" name="decision" value="allow">Authorize</button>
<button id="gh-cancel" name="decision" value="deny">Cancel</button></form>`);
    }

    if (path === '/login/oauth/authorize/decide' && req.method === 'POST') {
      const form = await readBody(req);
      const target = new URL(form.get('redirect_uri') || options.callbackUrl);
      if (form.get('decision') !== 'allow') {
        target.searchParams.set('error', 'access_denied');
        target.searchParams.set('error_description', 'The user has denied your application access.');
        target.searchParams.set('error_uri', 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied');
      } else {
        const code = randomBytes(10).toString('hex');
        codes.set(code, { login: form.get('login')!, redirectUri: form.get('redirect_uri') ?? '', challenge: form.get('code_challenge') || null, scope: form.get('scope') ?? '' });
        target.searchParams.set('code', code);
      }
      if (form.get('state')) target.searchParams.set('state', form.get('state')!);
      return res.writeHead(302, { location: target.href }).end();
    }

    if (path === '/login/oauth/access_token' && req.method === 'POST') {
      const form = await readBody(req);
      const fail = (error: string, description: string) => json(res, 200, { error, error_description: description, error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors' });
      if (form.get('client_id') !== options.clientId || form.get('client_secret') !== options.clientSecret) {
        return fail('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
      }
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!grant || expired || (form.get('redirect_uri') && form.get('redirect_uri') !== grant.redirectUri)) return fail('bad_verification_code', 'The code passed is incorrect or expired.');
      if (grant.challenge && createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') !== grant.challenge) {
        return fail('bad_verification_code', 'The code_verifier does not match the code_challenge.');
      }
      const token = `gho_${randomBytes(18).toString('hex')}`;
      tokens.set(token, { login: grant.login, scope: grant.scope });
      return json(res, 200, { access_token: token, token_type: 'bearer', scope: grant.scope.split(' ').join(',') });
    }

    const avatar = /^\/avatars\/([\w-]+)\.png$/.exec(path);
    if (avatar) {
      const user = options.users.find((u) => u.login === avatar[1]);
      return user?.avatar ? res.writeHead(200, { 'content-type': 'image/png' }).end(user.avatar) : res.writeHead(404).end();
    }

    if (path.startsWith('/api/v3/')) {
      const token = /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const session = token ? tokens.get(token) : undefined;
      if (!session) return json(res, 401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest' });
      const user = userOf(session.login);
      const granted = session.scope.split(' ');
      switch (path.slice('/api/v3'.length)) {
        case '/user': {
          const publicEmail = user.emails.find((e) => e.primary)?.email ?? null;
          return json(res, 200, {
            login: user.login, id: user.id, node_id: `U_${user.id}`, type: 'User', name: user.name, email: publicEmail,
            avatar_url: user.avatar ? `${baseUrl}/avatars/${user.login}.png` : `${baseUrl}/avatars/none.png`,
          });
        }
        case '/user/emails':
          if (!granted.includes('user:email') && !granted.includes('user')) return json(res, 404, { message: 'Not Found' });
          return json(res, 200, user.emails.map((e) => ({ ...e, visibility: e.primary ? 'public' : null })));
        case '/user/orgs':
          return json(res, 200, (user.orgs ?? []).map((login, i) => ({ login, id: 1000 + i })));
        case '/user/teams':
          if (!granted.includes('read:org')) return json(res, 403, { message: 'Resource not accessible by integration' });
          return json(res, 200, (user.teams ?? []).map((t, i) => {
            const [org, slug] = t.split('/');
            return { id: 2000 + i, slug, name: slug, organization: { login: org, id: 3000 + i } };
          }));
        default:
          return json(res, 404, { message: 'Not Found' });
      }
    }
    res.writeHead(404).end();
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => res.writeHead(500).end(error.message));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    baseUrl,
    lastScopes: () => scopes,
    expireCodes: (expire) => { expired = expire; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
