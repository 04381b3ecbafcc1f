// A tiny web app that signs its users in through Accouch with openid-client, as Gitea or Grafana would:
// /login starts the code flow, /callback redeems the code and greets the user.
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';
import { freePort } from './server.js';

export interface RpApp { url: string; callback: string; close(): Promise<void> }

/** Picks the app's address first, so its callback can be registered before it starts. */
export async function reserveRpApp(): Promise<{ port: number; url: string; callback: string }> {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  return { port, url, callback: `${url}/callback` };
}

export async function startRpApp(
  where: { port: number; url: string; callback: string },
  issuer: string, clientId: string, secret: string | undefined, extra: Record<string, string> = {},
): Promise<RpApp> {
  const { port, url, callback } = where;
  const config = await oidc.discovery(new URL(issuer), clientId, secret ? { client_secret: secret } : undefined, secret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const pending = new Map<string, string>();

  const server: Server = createServer(async (req, res) => {
    const current = new URL(req.url!, url);
    try {
      if (current.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        pending.set(state, verifier);
        const target = oidc.buildAuthorizationUrl(config, {
          redirect_uri: callback, scope: 'openid profile email groups', state,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
        });
        res.writeHead(302, { location: target.href }).end();
      } else if (current.pathname === '/callback') {
        const state = current.searchParams.get('state') ?? '';
        const verifier = pending.get(state);
        pending.delete(state);
        if (current.searchParams.get('error')) {
          res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1>Sign-in refused: ${current.searchParams.get('error')}</h1>`);
          return;
        }
        const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: verifier, expectedState: state });
        const claims = tokens.claims()!;
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1>Hello ${String(claims.name)}</h1><p id="groups">${(claims.groups as string[]).join(',')}</p><p id="amr">${(claims.amr as string[] | undefined)?.join(',') ?? ''}</p><p id="email">${String(claims.email ?? '')}</p><p id="picture">${String(claims.picture ?? '')}</p>`);
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`app error: ${(error as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url, callback, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
