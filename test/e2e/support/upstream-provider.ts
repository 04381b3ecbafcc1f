// A second, real OpenID provider for federation tests: an oidc-provider instance with its own accounts and its own
// sign-in form (username and password, or Cancel), on 127.0.0.1 so its cookies never mix with Accouch's on
// localhost. It plays a generic OpenID Connect issuer and, with an `hd` claim, Google.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './server.js';

export interface UpstreamAccount {
  sub: string;
  username: string;
  password: string;
  name?: string;
  email?: string;
  email_verified?: boolean;
  picture?: string;
  /** Google's Workspace domain claim. */
  hd?: string;
  /** A picture served by the provider at /pictures/<sub>.png (the `picture` claim points there). */
  pictureData?: Buffer;
}

export interface UpstreamClient { client_id: string; client_secret: string; redirect_uris: string[] }

export interface UpstreamProvider {
  issuer: string;
  close(): Promise<void>;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

export async function startUpstreamProvider(options: { accounts: UpstreamAccount[]; clients: UpstreamClient[]; name?: string }): Promise<UpstreamProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const name = options.name ?? 'Upstream ID';
  const accounts = new Map(options.accounts.map((a) => [a.sub, a]));
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({ ...c, grant_types: ['authorization_code'], response_types: ['code'] })),
    jwks: { keys: [{ ...key, kid: 'upstream', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: ['upstream-test-cookie-key'] },
    claims: { openid: ['sub', 'hd'], email: ['email', 'email_verified'], profile: ['name', 'picture', 'preferred_username'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      const { password: _p, username, pictureData, ...claims } = account;
      const picture = pictureData ? `${issuer}/pictures/${encodeURIComponent(sub)}.png` : claims.picture;
      return { accountId: sub, claims: () => ({ ...claims, picture, preferred_username: username }) };
    },
    // The household's own provider: no consent screen, the scopes asked for are granted.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();

  const page = (uid: string, error?: string) => `<!doctype html><html><head><title>${escape(name)}</title></head><body>
<h1>Sign in to ${escape(name)}</h1>${error ? `<p id="upstream-error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="upstream-username">Username</label><input id="upstream-username" name="username">
<label for="upstream-password">Password</label><input id="upstream-password" name="password" type="password">
<button id="upstream-submit" type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/cancel"><button id="upstream-cancel" type="submit">Cancel</button></form>
</body></html>`;

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, issuer);
    const picture = /^\/pictures\/([^/]+)\.png$/.exec(url.pathname);
    const data = picture ? accounts.get(decodeURIComponent(picture[1]!))?.pictureData : undefined;
    if (picture) return void (data ? res.writeHead(200, { 'content-type': 'image/png' }).end(data) : res.writeHead(404).end());
    const match = /^\/interaction\/([\w-]+)(?:\/(login|cancel))?$/.exec(url.pathname);
    if (!match) return callback(req, res);
    try {
      const [, uid, action] = match;
      if (!action) {
        await provider.interactionDetails(req, res);
        res.writeHead(200, { 'content-type': 'text/html' }).end(page(uid!));
        return;
      }
      const body = await formBody(req);
      if (action === 'cancel') {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled the sign-in' }, { mergeWithLastSubmission: false });
        return;
      }
      const account = [...accounts.values()].find((a) => a.username === body.get('username') && a.password === body.get('password'));
      if (!account) {
        res.writeHead(200, { 'content-type': 'text/html' }).end(page(uid!, 'Wrong username or password'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`upstream error: ${(error as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
