// /metrics as Prometheus scrapes it: counters that move with sign-ins and tokens, by label; the public
// listener only with the bearer token; the listener of its own; nothing about who signed in.
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { addClient, addUser, callback, codeFlow, discover, startAuth } from './support/rp.js';
import { freePort, startServer } from './support/server.js';
import { parseMetrics, sample, scrape } from './support/metrics.js';

const token = 'scrape-token-0123456789abcdef';

describe('metrics', () => {
  it('counts sign-ins, failures and tokens by label, on the public listener only with the token', async () => {
    const metricsPort = await freePort();
    const server = await startServer({ env: { ACCOUCH_METRICS_TOKEN: token, ACCOUCH_METRICS_PORT: String(metricsPort) } });
    addUser(server, 'mallory', 'mallory password');
    const secret = addClient(server, 'app', ['--redirect-uri', callback, '--refresh', 'always']);
    const config = await discover(server, 'app', secret);

    const before = parseMetrics((await scrape(`${server.issuer}/metrics`, token)).text);
    const { tokens } = await codeFlow(server, config, 'mallory', 'mallory password');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();

    // A wrong password, as a person would type it.
    const agent = new Agent();
    const origin = new URL(server.issuer).origin;
    const { res } = await agent.follow((await startAuth(config)).url, origin);
    const wrong = await agent.post(new URL(formAction(await res.text(), '/password'), origin), { username: 'mallory', password: 'not it' });
    expect(wrong.status).toBe(401);

    // A proxy's forward-auth check, answered before koa (from an address that is not a trusted proxy: a 403), with
    // a trailing slash as a proxy's address may have it.
    expect((await fetch(`${server.issuer}/forward-auth/traefik/`)).status).toBe(403);

    // The public listener refuses a scrape without the token, or with another one.
    expect((await scrape(`${server.issuer}/metrics`)).status).toBe(401);
    expect((await scrape(`${server.issuer}/metrics`, 'wrong-token-0123456789')).status).toBe(401);

    const scraped = await scrape(`${server.issuer}/metrics`, token);
    expect(scraped.status).toBe(200);
    expect(scraped.type).toMatch(/^text\/plain/);
    const after = parseMetrics(scraped.text);
    const moved = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(moved('accouch_sign_ins_total', { result: 'success', factor: 'password', network: 'home' })).toBe(1);
    expect(moved('accouch_sign_ins_total', { result: 'failure', factor: 'password', network: 'home' })).toBe(1);
    expect(moved('accouch_tokens_issued_total', { grant_type: 'authorization_code', token: 'access_token' })).toBe(1);
    expect(moved('accouch_tokens_issued_total', { grant_type: 'authorization_code', token: 'refresh_token' })).toBe(1);
    expect(moved('accouch_tokens_issued_total', { grant_type: 'refresh_token', token: 'refresh_token' })).toBe(1);
    expect(moved('accouch_tokens_issued_total', { grant_type: 'refresh_token', token: 'access_token' })).toBe(1);
    // Latency by route pattern: the token endpoint, and our password step without its interaction id.
    expect(moved('accouch_http_request_duration_seconds_count', { method: 'POST', route: '/token', status: '200' })).toBe(2);
    expect(moved('accouch_http_request_duration_seconds_count', { method: 'POST', route: '/interaction/:uid/password', status: '401' })).toBe(1);
    expect(moved('accouch_http_request_duration_seconds_count', { method: 'GET', route: '/forward-auth/traefik', status: '403' })).toBe(1);
    expect(sample(after, 'accouch_database_size_bytes', {})).toBeGreaterThan(4096);
    expect(sample(after, 'process_resident_memory_bytes', {})).toBeGreaterThan(0);
    // No per-user or per-request label values.
    expect(scraped.text).not.toMatch(/mallory|\/interaction\/[A-Za-z0-9_-]{10,}/);

    // The listener of its own serves the same registry (with the token, since one is set), on 127.0.0.1.
    const own = await scrape(`http://127.0.0.1:${metricsPort}/metrics`, token);
    expect(own.status).toBe(200);
    expect(sample(parseMetrics(own.text), 'accouch_sign_ins_total', { result: 'success', factor: 'password', network: 'home' })).toBeGreaterThanOrEqual(1);
    expect((await scrape(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(401);
    expect((await scrape(`http://127.0.0.1:${metricsPort}/other`, token)).status).toBe(404);
    expect(await server.stop()).toBe(0);
  });

  it('is off by default: /metrics is not served', async () => {
    const server = await startServer();
    const res = await scrape(`${server.issuer}/metrics`);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain('accouch_');
    expect(await server.stop()).toBe(0);
  });

  it('on a port of its own without a token, the public listener does not serve it', async () => {
    const metricsPort = await freePort();
    const server = await startServer({ env: { ACCOUCH_METRICS_PORT: String(metricsPort) } });
    expect((await scrape(`${server.issuer}/metrics`)).status).toBe(404);
    const own = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(own.status).toBe(200);
    expect(own.text).toContain('accouch_database_size_bytes');
    expect(await server.stop()).toBe(0);
  });
});
