// Pulling the plug under load: several apps sign people in and refresh non-stop, the server is killed with -9
// mid-stream and restarted, and every token the apps had received by then still works.
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { addClient, addUser, callback, codeFlow, discover } from './support/rp.js';
import { startServer } from './support/server.js';

interface AppState {
  user: string;
  /** The tokens of the last response this app received. */
  held?: { access: string; refresh: string; sub: string } | undefined;
  /** A request is on the wire (sent, no answer yet). */
  busy: boolean;
  /** The request on the wire is a refresh of `held.refresh`. */
  refreshing: boolean;
  rounds: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 under load', () => {
  it('every token the apps received still works after a kill -9 mid-stream and a restart', async () => {
    const server = await startServer();
    const apps: AppState[] = Array.from({ length: 4 }, (_, i) => ({ user: `user${i}`, busy: false, refreshing: false, rounds: 0 }));
    for (const app of apps) addUser(server, app.user, `${app.user} password`);
    const secret = addClient(server, 'app', ['--redirect-uri', callback, '--refresh', 'always']);
    let config = await discover(server, 'app', secret);

    let stopped = false;
    const loops = apps.map(async (app) => {
      try {
        while (!stopped) {
          app.busy = true;
          const { tokens } = await codeFlow(server, config, app.user, `${app.user} password`);
          app.held = { access: tokens.access_token, refresh: tokens.refresh_token!, sub: tokens.claims()!.sub };
          app.busy = false;
          for (let i = 0; i < 5 && !stopped; i += 1) {
            // Some think time, so that at any moment some apps are idle and others have a request out.
            await pause(Math.random() * 40);
            app.busy = true;
            app.refreshing = true;
            const refreshed = await oidc.refreshTokenGrant(config, app.held.refresh);
            app.held = { access: refreshed.access_token, refresh: refreshed.refresh_token!, sub: app.held.sub };
            app.busy = false;
            app.refreshing = false;
            app.rounds += 1;
          }
        }
      } catch {
        // The server is gone: the app keeps what it last received.
      }
    });

    // Pull the plug mid-stream: once every app holds tokens, at a moment when some request is out and some app is idle.
    const deadline = Date.now() + 30_000;
    let snapshot: Array<{ app: AppState; held: NonNullable<AppState['held']>; refreshing: boolean }> = [];
    for (;;) {
      expect(Date.now()).toBeLessThan(deadline);
      if (apps.every((a) => a.rounds >= 2) && apps.some((a) => a.busy) && apps.some((a) => !a.busy)) {
        // No other code runs between this snapshot and the signal.
        snapshot = apps.map((app) => ({ app, held: app.held!, refreshing: app.refreshing }));
        stopped = true;
        void server.kill();
        break;
      }
      await pause(2);
    }
    await Promise.all(loops);
    const restarted = await startServer({ dataDir: server.dataDir, port: server.port });
    config = await discover(restarted, 'app', secret);

    // Every access token first (a replayed refresh token could revoke its grant): userinfo and introspection.
    for (const { app, held } of snapshot) {
      expect((await oidc.fetchUserInfo(config, held.access, held.sub)).preferred_username).toBe(app.user);
      expect((await oidc.tokenIntrospection(config, held.access)).active).toBe(true);
    }
    let strict = 0;
    for (const { app, held, refreshing } of snapshot) {
      if (!refreshing) {
        // Nothing was out for this app: the refresh token it holds was committed and never used.
        strict += 1;
        const refreshed = await oidc.refreshTokenGrant(config, held.refresh);
        expect(refreshed.claims()!.preferred_username).toBe(app.user);
        continue;
      }
      // A refresh was on the wire: the server may have rotated the token and died before answering. The
      // old token then is spent (rotation, oidc-provider has no grace period) and is refused as such; if the
      // rotation was not committed, it still works.
      try {
        expect((await oidc.refreshTokenGrant(config, held.refresh)).claims()!.preferred_username).toBe(app.user);
      } catch (error) {
        expect((error as oidc.ResponseBodyError).error).toBe('invalid_grant');
      }
    }
    expect(strict).toBeGreaterThan(0);
    // And the household signs in as before.
    expect((await codeFlow(restarted, config, 'user0', 'user0 password')).tokens.claims()!.preferred_username).toBe('user0');
    expect(await restarted.stop()).toBe(0);
  });
});
