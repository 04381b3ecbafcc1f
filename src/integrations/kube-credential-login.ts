// The two interactive sign-ins of the kubectl plugin: authorization code + PKCE through a browser and a one-shot
// server on 127.0.0.1 (RFC 8252), or the device flow for machines without one. Both print what the person needs
// on stderr: stdout belongs to kubectl.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Configuration, TokenEndpointResponse, TokenEndpointResponseHelpers } from 'openid-client';

type OpenidClient = typeof import('openid-client');
export type Tokens = TokenEndpointResponse & TokenEndpointResponseHelpers;

/** How long the browser sign-in may take before the plugin gives up (kubectl waits for us meanwhile). */
const signInTimeoutMs = 5 * 60_000;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function answer(res: ServerResponse, status: number, title: string, message: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    connection: 'close',
  });
  res.end(`<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>body{font:1.1rem system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}}</style>
<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></html>`);
}

/** Best effort: a person on a desktop gets the page opened; anyone else reads the address on stderr. */
export function openBrowser(url: string, note: (line: string) => void): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [url]]
    : process.platform === 'win32' ? ['rundll32', ['url.dll,FileProtocolHandler', url]]
    : ['xdg-open', [url]];
  const cannot = (why: string) => note(`(could not open a browser: ${why}; open the address above yourself)`);
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', (error: NodeJS.ErrnoException) => cannot(error.code ?? error.message));
    child.unref();
  } catch (error) {
    cannot((error as Error).message);
  }
}

/**
 * Authorization code + PKCE: listens on 127.0.0.1 on a free port, prints (and opens) the sign-in address, and
 * redeems the code that comes back with our state. A request with another state is refused and the wait goes on.
 */
export async function signInWithBrowser(oidc: OpenidClient, config: Configuration, options: { scope: string; open: boolean; note: (line: string) => void }): Promise<Tokens> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  let settle!: { resolve: (tokens: Tokens) => void; reject: (error: unknown) => void };
  const done = new Promise<Tokens>((resolve, reject) => { settle = { resolve, reject }; });
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (req.method !== 'GET' || url.pathname !== '/callback') return answer(res, 404, 'Not found', 'This address only takes the sign-in answer for kubectl.');
    if (url.searchParams.get('state') !== state) {
      return answer(res, 400, 'Not this sign-in', 'This answer does not belong to the kubectl command waiting here. Start again from the terminal.');
    }
    const error = url.searchParams.get('error');
    if (error) {
      const description = url.searchParams.get('error_description') ?? error;
      answer(res, 200, 'Sign-in failed', `${description}. Go back to the terminal.`);
      return settle.reject(new Error(`sign-in refused: ${description}`));
    }
    try {
      const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      answer(res, 200, 'Signed in', 'kubectl is signed in. You can close this tab and go back to the terminal.');
      settle.resolve(tokens);
    } catch (grantError) {
      answer(res, 200, 'Sign-in failed', 'kubectl could not finish signing in: see the terminal.');
      settle.reject(grantError);
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  const timer = setTimeout(() => settle.reject(new Error(`nobody signed in within ${signInTimeoutMs / 60_000} minutes`)), signInTimeoutMs);
  try {
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `http://127.0.0.1:${port}/callback`,
      scope: options.scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    options.note(`To sign in to Kubernetes, open this address in a browser:\n\n    ${url.href}\n`);
    if (options.open) openBrowser(url.href, options.note);
    return await done;
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  }
}

/** The device flow (RFC 8628): prints where to go and the code to type, then polls until it is done. */
export async function signInWithDevice(oidc: OpenidClient, config: Configuration, options: { scope: string; note: (line: string) => void }): Promise<Tokens> {
  const device = await oidc.initiateDeviceAuthorization(config, { scope: options.scope });
  const complete = device.verification_uri_complete ? `\n    (or open ${device.verification_uri_complete})` : '';
  options.note(`To sign in to Kubernetes, open ${device.verification_uri} on any device and enter the code\n\n    ${device.user_code}\n${complete}`);
  return oidc.pollDeviceAuthorizationGrant(config, device);
}
