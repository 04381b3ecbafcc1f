// `accouch client remove` goes through the console's own service: the app's grants, refresh tokens and access
// tokens go with it, as when the owner removes it in the console.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addClient, addUser, callback, codeFlow, discover } from './support/rp.js';
import { startServer, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'wendy', 'wendy password 1');
});

afterAll(async () => {
  await stopCleanly(server);
});

describe('client remove', () => {
  it('leaves no refresh token or access token of the app working', async () => {
    const secret = addClient(server, 'wiki', ['--redirect-uri', callback, '--name', 'Family Wiki']);
    const config = await discover(server, 'wiki', secret);
    const { tokens } = await codeFlow(server, config, 'wendy', 'wendy password 1', { scope: 'openid offline_access', prompt: 'consent' });
    expect(tokens.refresh_token).toBeTruthy();
    const sub = tokens.claims()!.sub;
    expect((await oidc.fetchUserInfo(config, tokens.access_token, sub)).sub).toBe(sub);

    const removal = server.cli(['client', 'remove', 'wiki']);
    expect(removal.status, removal.stderr).toBe(0);
    expect(removal.stdout).toContain('removed client wiki');

    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: expect.stringMatching(/^(invalid_grant|invalid_client)$/) });
    const me = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(me.status).toBe(401);
    expect(server.cli(['audit', '--limit', '20']).stdout).toContain('client.removed');
  });
});
